# shellcheck shell=bash
# What a new cloud needs before the first server: flavors and an image. Both are
# created only when missing, so re-running stack.sh keeps what exists.

# name ram_mb vcpus disk_gb
DEFAULT_FLAVORS=(
    "m1.tiny 512 1 1"
    "m1.small 1024 1 1"
    "m1.medium 2048 2 2"
)

create_flavors() {
    local existing line name ram vcpus disk
    existing=$(cli flavor list --all -f value -c Name) || die "cannot list flavors"
    for line in "${DEFAULT_FLAVORS[@]}"; do
        read -r name ram vcpus disk <<<"$line"
        grep -qxF "$name" <<<"$existing" && continue
        log "creating flavor $name (${ram} MB, $vcpus vCPU, $disk GB)"
        cli flavor create --ram "$ram" --vcpus "$vcpus" --disk "$disk" "$name" >/dev/null \
            || die "cannot create flavor $name"
    done
}

# The image the examples boot: "cirros" (a small raw file; the fake driver never reads
# it) or, for libvirt, "tick" (tools/libvirt/build-guest.sh's kernel + busybox guest).
default_image_name() {
    if [ "$VIRT_DRIVER" = libvirt ]; then echo tick; else echo cirros; fi
}

# register_images SPEC...: each SPEC is "name|file|properties-json"; properties may name
# other images of the same call as @name (replaced by their id). Images already in the
# store (by name) are kept.
register_images() {
    mkdir -p "$IMAGE_DIR"
    "$VENV/bin/python" - "$CONTROLLER_CONF" "$@" <<'PY'
import json
import sys

from novalite.conf import CONF
from novalite.image import api

CONF(["--config-file", sys.argv[1]], project="novalite")
ids = {}
for spec in sys.argv[2:]:
    name, path, props = spec.split("|", 2)
    existing = api.get_all(None, name=name)
    if existing:
        ids[name] = existing[0]["id"]
        continue
    properties = {key: ids[value[1:]] if str(value).startswith("@") else value
                  for key, value in json.loads(props or "{}").items()}
    image = api.add(path, name, disk_format="raw", properties=properties)
    ids[name] = image["id"]
    print(f"registered image {name} ({image['id']}) from {path}")
PY
}

create_images() {
    if [ "$VIRT_DRIVER" = libvirt ]; then
        log "building the tick guest in $GUEST_DIR (tools/libvirt/build-guest.sh)"
        bash "$REPO_DIR/tools/libvirt/build-guest.sh" "$GUEST_DIR" \
            || die "tools/libvirt/build-guest.sh failed"
        # Direct kernel boot, as tests/functional/test_libvirt.py does.
        register_images \
            "tick-kernel|$GUEST_DIR/vmlinuz|" \
            "tick-ramdisk|$GUEST_DIR/initrd.gz|" \
            "tick|$GUEST_DIR/root.raw|{\"kernel_id\": \"@tick-kernel\", \"ramdisk_id\": \"@tick-ramdisk\", \"os_command_line\": \"console=ttyS0 quiet panic=-1\"}"
    else
        local disk=$IMAGE_DIR/cirros.raw
        [ -f "$disk" ] || truncate -s 1M "$disk"
        register_images "cirros|$disk|"
    fi
}
