# shellcheck shell=bash
# Compute nodes as network namespaces: one Linux bridge on the host carries the
# "management network" ${NETNS_SUBNET}.0/24; the bridge itself has .1 (the controller's
# address, SERVICE_HOST), compute k lives in namespace ${NETNS_PREFIX}cpu-k with .(10+k)
# on its eth0, the other end of a veth pair whose host end is enslaved to the bridge.
#
# Traffic between namespaces is switched by the bridge and traffic to the bridge address
# is delivered locally, so no IP forwarding is needed. Only a controller elsewhere (a
# SERVICE_HOST that is not an address of this machine) needs forwarding and NAT.

netns_name() { echo "${NETNS_PREFIX}cpu-$1"; }
veth_name() { echo "${VETH_PREFIX}$1"; }
bridge_addr() { echo "$NETNS_SUBNET.1"; }
compute_addr() { echo "$NETNS_SUBNET.$((10 + $1))"; }

netns_exists() { [ -e "/run/netns/$1" ]; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

# An address of this machine (root namespace)?
is_local_address() {
    case $1 in 127.*|localhost|0.0.0.0) return 0 ;; esac
    ip -o -4 addr show | awk '{sub(/\/.*/, "", $4); print $4}' | grep -qxF "$1"
}

setup_bridge() {
    local addr
    addr=$(bridge_addr)
    if ! link_exists "$BRIDGE_NAME"; then
        log "creating bridge $BRIDGE_NAME ($addr/24)"
        # No STP and no forward delay: ports forward as soon as they are up.
        ip link add name "$BRIDGE_NAME" type bridge stp_state 0 forward_delay 0
    fi
    if ! ip -o -4 addr show dev "$BRIDGE_NAME" | grep -q " $addr/24 "; then
        ip addr add "$addr/24" dev "$BRIDGE_NAME"
    fi
    ip link set "$BRIDGE_NAME" up
    bridge_netfilter_warning
}

# br_netfilter hands bridged frames to iptables; a FORWARD policy of DROP (Docker sets
# one) then drops traffic between namespaces (libvirt migrations), though not to the
# bridge address itself.
bridge_netfilter_warning() {
    [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0)" = 1 ] \
        || return 0
    command -v iptables >/dev/null || return 0
    if iptables -S FORWARD 2>/dev/null | grep -q '^-P FORWARD DROP'; then
        warn "iptables FORWARD policy is DROP and br_netfilter is active: traffic between" \
             "compute namespaces may be dropped (iptables -I FORWARD -i $BRIDGE_NAME" \
             "-o $BRIDGE_NAME -j ACCEPT allows it)"
    fi
}

# setup_compute_netns K: the namespace, its veth pair, address and default route.
setup_compute_netns() {
    local k=$1 ns veth addr gw
    ns=$(netns_name "$k")
    veth=$(veth_name "$k")
    addr=$(compute_addr "$k")
    gw=$(bridge_addr)
    if ! netns_exists "$ns"; then
        log "creating namespace $ns ($addr)"
        ip netns add "$ns"
    fi
    if ! ip -n "$ns" link show dev eth0 >/dev/null 2>&1; then
        # A host end left without its peer (namespace deleted by hand) is useless.
        link_exists "$veth" && ip link del "$veth"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE_NAME"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" -o -4 addr show dev eth0 | grep -q " $addr/24 "; then
        ip -n "$ns" addr add "$addr/24" dev eth0
    fi
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$gw" dev eth0
    write_netns_etc "$k"
}

# /etc/netns/NS/{hosts,resolv.conf}: `ip netns exec NS` bind-mounts them over /etc/hosts
# and /etc/resolv.conf for what it starts. The namespaces reach only the bridge, so the
# machine's DNS server would time out (10 s per lookup: libvirtd resolves its own host
# name for every getHostname); every node's name is in hosts instead, and a lookup of
# anything else fails at once.
netns_etc_dir() { echo "/etc/netns/$(netns_name "$1")"; }

write_netns_etc() {
    local k=$1 dir j
    dir=$(netns_etc_dir "$k")
    mkdir -p "$dir"
    # Written in place (not replaced): running processes see the bind-mounted inode.
    {
        echo "# written by novalite devstack/stack.sh for $(netns_name "$k")"
        echo "127.0.0.1 localhost"
        echo "$SERVICE_HOST controller"
        for ((j = 1; j <= $(num_computes); j++)); do
            echo "$(compute_addr "$j") $(compute_host "$j")"
        done
    } > "$dir/hosts"
    {
        echo "# written by novalite devstack/stack.sh: no DNS inside compute namespaces"
        echo "options timeout:1 attempts:1"
    } > "$dir/resolv.conf"
}

# kill_netns_processes NS: whatever still runs inside (TERM, then KILL).
kill_netns_processes() {
    local ns=$1 pids
    netns_exists "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    log "stopping processes left in $ns: $pids"
    # shellcheck disable=SC2086  # a list of pids
    kill -TERM $pids 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        [ -n "${pids// /}" ] || return 0
        sleep 0.2
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
}

# remove_compute_netns K: its processes, the namespace (which takes the veth pair along).
remove_compute_netns() {
    local k=$1 ns veth
    ns=$(netns_name "$k")
    veth=$(veth_name "$k")
    if netns_exists "$ns"; then
        kill_netns_processes "$ns"
        log "removing namespace $ns"
        ip netns del "$ns"
    fi
    if link_exists "$veth"; then
        ip link del "$veth" 2>/dev/null || true
    fi
    rm -rf "$(netns_etc_dir "$k")"
}

remove_bridge() {
    link_exists "$BRIDGE_NAME" || return 0
    log "removing bridge $BRIDGE_NAME"
    ip link del "$BRIDGE_NAME"
}

# Namespaces of ours beyond the current count (left by a stack with more computes).
extra_compute_indexes() {
    local ns k
    for ns in /run/netns/"${NETNS_PREFIX}"cpu-*; do
        [ -e "$ns" ] || continue
        k=${ns##*cpu-}
        [[ $k =~ ^[0-9]+$ ]] || continue
        ((k > $(num_computes))) && echo "$k"
    done
    return 0
}

# With NETNS=yes and a controller on another machine, the namespaces reach it through
# this host: forwarding plus masquerading (the controller does not know our subnet).
setup_forwarding_if_needed() {
    is_local_address "$SERVICE_HOST" && return 0
    [ "$SERVICE_HOST" = "$(bridge_addr)" ] && return 0
    command -v iptables >/dev/null || apt_install iptables
    if [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
        log "enabling net.ipv4.ip_forward (the controller $SERVICE_HOST is on another machine)"
        sysctl -qw net.ipv4.ip_forward=1
        record_created sysctl ip_forward
    fi
    local rule=(-s "$NETNS_SUBNET.0/24" ! -o "$BRIDGE_NAME" -j MASQUERADE)
    if ! iptables -t nat -C POSTROUTING "${rule[@]}" 2>/dev/null; then
        iptables -t nat -A POSTROUTING "${rule[@]}"
        record_created masquerade "$NETNS_SUBNET.0/24"
    fi
}

remove_forwarding() {
    if was_created masquerade "$NETNS_SUBNET.0/24" && command -v iptables >/dev/null; then
        iptables -t nat -D POSTROUTING -s "$NETNS_SUBNET.0/24" ! -o "$BRIDGE_NAME" \
            -j MASQUERADE 2>/dev/null || true
        forget_created masquerade "$NETNS_SUBNET.0/24"
    fi
    if was_created sysctl ip_forward; then
        log "disabling net.ipv4.ip_forward again"
        sysctl -qw net.ipv4.ip_forward=0 || true
        forget_created sysctl ip_forward
    fi
}
