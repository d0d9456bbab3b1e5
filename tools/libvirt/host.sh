#!/usr/bin/env bash
# host.sh start NAME STATE_DIR TCP_PORT MIG_PORT_MIN HOST_UUID
# host.sh stop NAME STATE_DIR
#
# One libvirt "host" on this machine: a root `libvirtd --listen` (QEMU/TCG) in its own mount
# and UTS namespace, with hostname NAME and its own /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt bind-mounted from
# STATE_DIR/NAME/{etc,run,lib,log,cache}. Reach it at qemu+tcp://127.0.0.1:TCP_PORT/system
# (no authentication: loopback only, unless LISTEN_ADDR names another address — devstack
# listens on a compute namespace's own address so that other namespaces migrate to it). Incoming migrations use ports MIG_PORT_MIN..+20.
# libvirt refuses 127.0.0.1 as migration_host/migration_address, so migrations pass the
# address per call (VIR_MIGRATE_PARAM_URI / VIR_MIGRATE_PARAM_LISTEN_ADDRESS).
#
# If NOVALITE_LIBVIRT_CAPS_CACHE names a directory, QEMU capabilities libvirt probed on an
# earlier start are copied from it into a new host (and back after a start): probing takes
# 5-8 s under TCG, reading the cache well under a second. libvirt checks the cached entries
# (QEMU binary, libvirt version, kernel, microcode) and probes again when they do not match.
#
# stop destroys the host's running domains, stops libvirtd, and kills any QEMU process of
# the host that is left (from the pid files libvirt keeps per running domain). Stopping a
# host that is not running does nothing.
set -euo pipefail

usage() {
    echo "usage: $0 start NAME STATE_DIR TCP_PORT MIG_PORT_MIN HOST_UUID" >&2
    echo "       $0 stop NAME STATE_DIR" >&2
    exit 2
}
[ $# -ge 3 ] || usage
CMD=$1
NAME=$2
mkdir -p "$3"
H=$(readlink -f "$3")/$NAME

# A process that exists and is not a zombie (nobody may reap libvirtd once we exit).
pid_running() {
    [ -n "$1" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}

# A running pid that is this host's launcher/libvirtd (and not a recycled pid).
daemon_alive() {
    pid_running "$1" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q 'libvirtd '
}

read_pid() { cat "$1" 2>/dev/null || true; }

wait_gone() {  # wait_gone SECONDS PID...: true when every pid has exited
    local deadline=$((SECONDS + $1)) pid
    shift
    while ((SECONDS < deadline)); do
        local left=0
        for pid in "$@"; do
            pid_running "$pid" && left=1
        done
        ((left)) || return 0
        sleep 0.1
    done
    return 1
}

stop_host() {
    [ -d "$H" ] || return 0
    local launcher daemon uri dom pids=()
    launcher=$(read_pid "$H/launcher.pid")
    daemon=$(read_pid "$H/libvirtd.pid")
    uri=$(cat "$H/uri" 2>/dev/null || true)

    # 1. Destroy running domains through libvirt: QEMU outlives libvirtd otherwise.
    if [ -n "$uri" ] && { daemon_alive "$launcher" || daemon_alive "$daemon"; }; then
        for dom in $(timeout 15 virsh -q -c "$uri" list --name 2>/dev/null || true); do
            timeout 30 virsh -q -c "$uri" destroy "$dom" >/dev/null 2>&1 || true
        done
    fi

    # 2. Stop libvirtd (the launcher pid is libvirtd itself after the execs).
    for pid in $launcher $daemon; do
        if daemon_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    if ((${#pids[@]})) && ! wait_gone 15 "${pids[@]}"; then
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait_gone 5 "${pids[@]}" || echo "host.sh: libvirtd of $NAME did not exit" >&2
    fi

    # 3. Any QEMU of this host still running (libvirt keeps run/qemu/<domain>.pid for each).
    local pidfile pid dname qemus=()
    for pidfile in "$H"/run/qemu/*.pid; do
        [ -e "$pidfile" ] || continue
        dname=$(basename "$pidfile" .pid)
        pid=$(read_pid "$pidfile")
        [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || continue
        if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "qemu-system.* guest=$dname,"; then
            echo "host.sh: killing leftover QEMU $pid (domain $dname of $NAME)" >&2
            kill -KILL "$pid" 2>/dev/null || true
            qemus+=("$pid")
        fi
    done
    if ((${#qemus[@]})); then
        wait_gone 10 "${qemus[@]}" || echo "host.sh: QEMU ${qemus[*]} did not exit" >&2
    fi
    rm -f "$H/launcher.pid" "$H/libvirtd.pid"
}

if [ "$CMD" = stop ]; then
    [ $# -eq 3 ] || usage
    stop_host
    exit 0
fi
[ "$CMD" = start ] && [ $# -eq 6 ] || usage
PORT=$4
MIG_MIN=$5
HOST_UUID=$6
URI="qemu+tcp://127.0.0.1:$PORT/system"

if daemon_alive "$(read_pid "$H/launcher.pid")"; then
    echo "host.sh: $NAME is already running (pid $(read_pid "$H/launcher.pid"))" >&2
    exit 1
fi

mkdir -p "$H"/{etc,run,lib,log,cache,sock}
# Seed the host's /etc/libvirt from the machine's once; later starts keep its state
# (persistent domain definitions live in etc/qemu).
if [ ! -e "$H/etc/.seeded" ]; then
    [ -d /etc/libvirt ] && cp -a /etc/libvirt/. "$H/etc/"
    rm -f "$H"/etc/qemu/networks/autostart/* 2>/dev/null || true
    touch "$H/etc/.seeded"
fi

# unix socket paths are limited to 107 bytes: fall back to the host's own /run/libvirt
# (STATE_DIR/NAME/run) when the state dir is deep.
SOCK_DIR=$H/sock
SOCK_SEEN=$H/sock
if [ $(( ${#SOCK_DIR} + 24 )) -gt 107 ]; then
    SOCK_DIR=/run/libvirt/sock
    SOCK_SEEN=$H/run/sock
fi

cat > "$H/etc/libvirtd.conf" <<CONF
# written by tools/libvirt/host.sh for host $NAME
listen_tls = 0
listen_tcp = 1
listen_addr = "${LISTEN_ADDR:-127.0.0.1}"
tcp_port = "$PORT"
auth_tcp = "none"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_dir = "$SOCK_DIR"
host_uuid = "$HOST_UUID"
log_outputs = "3:file:$H/log/libvirtd.log"
CONF
cat > "$H/etc/qemu.conf" <<CONF
# written by tools/libvirt/host.sh for host $NAME
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
migration_port_min = $MIG_MIN
migration_port_max = $((MIG_MIN + 20))
CONF

CAPS=$H/cache/qemu/capabilities
SEED=${NOVALITE_LIBVIRT_CAPS_CACHE:-}
if [ -n "$SEED" ] && [ -d "$SEED" ] && ! compgen -G "$CAPS/*.xml" >/dev/null; then
    mkdir -p "$CAPS"
    cp -p "$SEED"/*.xml "$CAPS/" 2>/dev/null || true
fi
save_caps() {  # copy this host's probed capabilities to the shared cache, file by file
    [ -n "$SEED" ] && compgen -G "$CAPS/*.xml" >/dev/null || return 0
    mkdir -p "$SEED"
    local f tmp
    for f in "$CAPS"/*.xml; do
        cmp -s "$f" "$SEED/${f##*/}" && continue
        tmp=$(mktemp "$SEED/.tmp.XXXXXX")
        cp "$f" "$tmp" && mv -f "$tmp" "$SEED/${f##*/}" || rm -f "$tmp"
    done
}

# Sockets of a daemon that was killed would make the wait below succeed too early.
rm -f "$SOCK_SEEN"/libvirt-sock "$SOCK_SEEN"/libvirt-sock-ro "$SOCK_SEEN"/libvirt-admin-sock
mkdir -p "$SOCK_SEEN" /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt \
    /var/cache/libvirt
echo "$URI" > "$H/uri"
: > "$H/libvirtd.stdout"
unshare -m -u --propagation private bash -c '
    set -e
    hostname "$1"
    mount --bind "$2/etc" /etc/libvirt
    mount --bind "$2/run" /run/libvirt
    mount --bind "$2/lib" /var/lib/libvirt
    mount --bind "$2/log" /var/log/libvirt
    mount --bind "$2/cache" /var/cache/libvirt
    exec libvirtd --listen --pid-file "$2/libvirtd.pid"
' host.sh "$NAME" "$H" </dev/null >>"$H/libvirtd.stdout" 2>&1 &
LAUNCHER=$!
echo "$LAUNCHER" > "$H/launcher.pid"

deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    if [ -S "$SOCK_SEEN/libvirt-sock" ] \
            && timeout 5 virsh -q -c "$URI" version >/dev/null 2>&1; then
        save_caps || true
        echo "$NAME: libvirtd pid $LAUNCHER, $URI"
        exit 0
    fi
    pid_running "$LAUNCHER" || break
    sleep 0.1
done

echo "host.sh: libvirtd for $NAME did not come up on $URI" >&2
echo "--- $H/libvirtd.stdout" >&2
tail -n 20 "$H/libvirtd.stdout" >&2 || true
echo "--- $H/log/libvirtd.log" >&2
tail -n 30 "$H/log/libvirtd.log" >&2 || true
stop_host
exit 1
