# shellcheck shell=bash
# VIRT_DRIVER=libvirt: one libvirtd per compute node, started with tools/libvirt/host.sh
# (its own mount and UTS namespace and state directory) inside the node's network
# namespace, so that its TCP port and QEMU's incoming-migration ports are the node's own.
#
# Another node's libvirtd must reach this one at the node's address for a peer-to-peer
# live migration, so host.sh is told to listen there (LISTEN_ADDR) instead of loopback.

LIBVIRT_HOST_SH=$REPO_DIR/tools/libvirt/host.sh

libvirt_state_dir() { echo "$DATA_DIR/libvirt"; }

# Inside a namespace every node can use the standard ports; in the root namespace
# (NETNS=no, several nodes on one machine) each node needs its own.
libvirt_port() {
    if [ "$NETNS" = yes ]; then echo "$LIBVIRT_TCP_PORT"; else echo $((LIBVIRT_TCP_PORT + $1)); fi
}
libvirt_migration_port_min() {
    if [ "$NETNS" = yes ]; then
        echo "$LIBVIRT_MIGRATION_PORT_MIN"
    else
        echo $((LIBVIRT_MIGRATION_PORT_MIN + 25 * $1))
    fi
}
libvirt_uri() { echo "qemu+tcp://$(compute_ip "$1"):$(libvirt_port "$1")/system"; }

# Where libvirtd listens: everything inside the node's own namespace; else the node's
# address (loopback for nodes on one machine).
libvirt_listen_addr() {
    if [ "$NETNS" = yes ]; then echo 0.0.0.0; else compute_ip "$1"; fi
}

# run_in_node K COMMAND...: in compute K's namespace (or here, with NETNS=no).
run_in_node() {
    local k=$1
    shift
    if [ "$NETNS" = yes ]; then
        ip netns exec "$(netns_name "$k")" "$@"
    else
        "$@"
    fi
}

libvirt_host_uuid() {
    local f
    f=$(libvirt_state_dir)/$(compute_host "$1").uuid
    mkdir -p "$(libvirt_state_dir)"
    [ -s "$f" ] || python3 -c 'import uuid; print(uuid.uuid4())' > "$f"
    cat "$f"
}

libvirt_answers() {
    run_in_node "$1" timeout 5 virsh -q -c "$(libvirt_uri "$1")" version >/dev/null 2>&1
}

start_libvirt_host() {
    local k=$1 host addr
    host=$(compute_host "$k")
    if libvirt_answers "$k"; then
        log "libvirtd of $host already answers at $(libvirt_uri "$k")"
        return 0
    fi
    # Running but not reachable where it should be (another listen address): restart.
    stop_libvirt_host_if_any "$k"
    addr=$(libvirt_listen_addr "$k")
    log "starting libvirtd for $host ($(libvirt_uri "$k"))"
    run_in_node "$k" env LISTEN_ADDR="$addr" \
        NOVALITE_LIBVIRT_CAPS_CACHE="$REPO_DIR/.cache/libvirt-qemu-caps" \
        bash "$LIBVIRT_HOST_SH" start "$host" "$(libvirt_state_dir)" "$(libvirt_port "$k")" \
        "$(libvirt_migration_port_min "$k")" "$(libvirt_host_uuid "$k")" \
        || die "libvirtd for $host did not start"
    libvirt_answers "$k" || die "libvirtd of $host does not answer at $(libvirt_uri "$k")"
    record_created libvirt_host "$host"
}

# Stop compute K's libvirtd (its domains destroyed first) if stack.sh started one.
stop_libvirt_host_if_any() {
    local k=$1 host
    host=$(compute_host "$k")
    # host.sh removes the pid files once libvirtd is stopped.
    compgen -G "$(libvirt_state_dir)/$host/*.pid" >/dev/null || return 0
    log "stopping libvirtd of $host"
    if [ "$NETNS" = yes ] && ! netns_exists "$(netns_name "$k")"; then
        # No namespace left to reach it in: host.sh still stops libvirtd by pid.
        bash "$LIBVIRT_HOST_SH" stop "$host" "$(libvirt_state_dir)" || true
    else
        run_in_node "$k" bash "$LIBVIRT_HOST_SH" stop "$host" "$(libvirt_state_dir)" || true
    fi
}

libvirt_conf_section() {
    local k=$1 ip
    ip=$(compute_ip "$k")
    cat <<CONF
[libvirt]
virt_type = qemu
connection_uri = $(libvirt_uri "$k")
instances_path = $DATA_DIR/$(compute_host "$k")/instances
live_migration_inbound_addr = $ip
live_migration_inbound_uri = $(libvirt_uri "$k")

CONF
}
