#!/usr/bin/env bash
# build-guest.sh OUTDIR
#
# Builds the tiny guest the real-libvirt tests boot (direct kernel boot, TCG, serial console):
#   OUTDIR/vmlinuz    Debian's cloud kernel (the package linux-image-cloud-amd64 depends on)
#   OUTDIR/initrd.gz  a busybox initramfs whose /init is described below
#   OUTDIR/root.raw   a 64 MiB raw disk, "NOVALITE-ROOT-MARKER" at byte offset 1024
# The Debian packages are downloaded once into OUTDIR/downloads; later builds are offline.
# Idempotent: nothing happens when all three outputs exist and are newer than this script.
# The guest is built in a temporary directory and then moved into place.
#
# The guest's /init prints on the serial console, once:
#   GUEST-BOOTED boot=<boot id, 8 chars> cpus=<n> mem_kb=<MemTotal> vda_bytes=<n|0> marker=<..>
# then, when the kernel command line has novalite_fill_mb=N, fills N MiB of a tmpfs from
# /dev/urandom (memory that is not zero pages) and prints "FILLED N"; then every second
#   tick <i> up=<uptime> boot=<boot id, 8 chars>
# and writes "tick <i>" to /dev/vda at offset 2 MiB. An ACPI power-button press (libvirt's
# shutdown()) powers the guest off.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
SCRIPT=$(readlink -f "$0")
mkdir -p "$1"
OUT=$(readlink -f "$1")

up_to_date() {
    local f
    for f in vmlinuz initrd.gz root.raw; do
        [ "$OUT/$f" -nt "$SCRIPT" ] || return 1
    done
}
up_to_date && exit 0

# One builder at a time per OUTDIR; whoever waited finds the guest built.
exec 9>"$OUT/.lock"
flock 9
up_to_date && exit 0

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DL=$OUT/downloads
mkdir -p "$DL"

# --- packages ---------------------------------------------------------------------------
kernel_package() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then
    apt-get update -q >&2
    KPKG=$(kernel_package)
fi
[ -n "$KPKG" ] || { echo "build-guest.sh: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }

download() {  # download PACKAGE -> prints the .deb's path (cached in $DL)
    local pkg=$1 deb
    deb=$(ls "$DL/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        (cd "$DL" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
        deb=$(ls "$DL/${pkg}"_*.deb | head -n1)
    fi
    echo "$deb"
}

dpkg-deb -x "$(download "$KPKG")" "$WORK/kernel"
# A static busybox: the host's from busybox-static when installed, else from the package.
if [ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null || true)" = installed ] \
        && [ -x /bin/busybox ]; then
    BUSYBOX=/bin/busybox
else
    dpkg-deb -x "$(download busybox-static)" "$WORK/busybox"
    BUSYBOX=$WORK/busybox/bin/busybox
fi

# --- initramfs --------------------------------------------------------------------------
R=$WORK/initrd
mkdir -p "$R"/{bin,dev,proc,sys,mnt,lib/modules,etc/acpi/PWRF,var/log,var/run}
cp "$BUSYBOX" "$R/bin/busybox"

MODDIR=$(echo "$WORK"/kernel/lib/modules/*)
declare -A LOADED=()
ORDER=()
add_module() {  # add_module NAME: NAME's dependencies (from its .modinfo), then NAME
    local name=$1 file dep deps
    [ -n "${LOADED[$name]:-}" ] && return 0
    file=$(find "$MODDIR" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) | head -n1)
    [ -n "$file" ] || { echo "build-guest.sh: module $name not in $KPKG" >&2; exit 1; }
    LOADED[$name]=1
    deps=$(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    cp "$file" "$R/lib/modules/$name.ko"
    ORDER+=("$name")
}
for m in virtio_pci virtio_blk button evdev; do
    add_module "$m"
done
printf '%s\n' "${ORDER[@]}" > "$R/lib/modules/load-order"

# busybox acpid turns the power-button input event into the action PWRF/00000080.
cat > "$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo GUEST-ACPI-POWEROFF > /dev/console
sync
poweroff -f
EOF

cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m.ko" 2>/dev/null
done
acpid -l /var/log/acpid.log

n=0
while [ ! -b /dev/vda ] && [ $n -lt 20 ]; do
    sleep 0.1
    n=$((n + 1))
done
BOOT=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
MEM_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
VDA_BYTES=0
MARKER=
if [ -b /dev/vda ]; then
    VDA_BYTES=$(blockdev --getsize64 /dev/vda)
    MARKER=$(dd if=/dev/vda bs=1 skip=1024 count=20 2>/dev/null | tr -d '\000\r\n')
fi
echo "GUEST-BOOTED boot=$BOOT cpus=$(nproc) mem_kb=$MEM_KB vda_bytes=$VDA_BYTES marker=$MARKER"

FILL_MB=
for word in $(cat /proc/cmdline); do
    case "$word" in
        novalite_fill_mb=*) FILL_MB=${word#novalite_fill_mb=} ;;
    esac
done
if [ -n "$FILL_MB" ]; then
    mkdir -p /fill
    mount -t tmpfs -o size=$((FILL_MB + 1))m tmpfs /fill
    dd if=/dev/urandom of=/fill/data bs=1048576 count="$FILL_MB" 2>/dev/null
    echo "FILLED $FILL_MB"
fi

i=0
while true; do
    i=$((i + 1))
    echo "tick $i up=$(cut -d' ' -f1 /proc/uptime) boot=$BOOT"
    if [ -b /dev/vda ]; then
        echo "tick $i" | dd of=/dev/vda bs=512 seek=4096 conv=notrunc,fsync 2>/dev/null
    fi
    sleep 1
done
EOF
chmod 755 "$R/init" "$R/etc/acpi/PWRF/00000080"
(cd "$R" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -1 > "$WORK/initrd.gz"

# --- kernel and root disk ---------------------------------------------------------------
cp "$WORK"/kernel/boot/vmlinuz-* "$WORK/vmlinuz"
truncate -s 64M "$WORK/root.raw"
printf 'NOVALITE-ROOT-MARKER' | dd of="$WORK/root.raw" bs=1 seek=1024 conv=notrunc status=none

# root.raw last: it is what overlays point at, and up_to_date checks all three anyway.
for f in vmlinuz initrd.gz root.raw; do
    mv -f "$WORK/$f" "$OUT/$f"
done
echo "guest built in $OUT (kernel $KPKG)"
