#!/usr/bin/env bash
# Install what the real-libvirt tests and the devstack pieces need: libvirtd and QEMU (TCG),
# libvirt-python's build requirements, and the tools tools/libvirt/build-guest.sh uses.
# Idempotent: when everything is present it only asks dpkg and getent.
#
# libvirt-daemon-system is deliberately not installed (it pulls in systemd packages); the
# one thing from it that libvirtd needs, the libvirt-qemu user and group, is created here.
set -euo pipefail

PACKAGES=(libvirt-daemon libvirt-clients libvirt-dev pkg-config gcc qemu-system-x86 qemu-utils
          busybox-static rsync)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    echo "tools/libvirt/install.sh: installing ${missing[*]}"
    apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}"; }
    # A first attempt from the current package lists; refresh them if that fails.
    if ! apt_install; then
        apt-get update -q
        apt_install
    fi
fi

# libvirtd (privileged) looks up its built-in default QEMU user before reading qemu.conf and
# refuses to start without it, even though our hosts run QEMU as root.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null \
    || useradd --system -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
