#!/usr/bin/env bash
# unstack.sh: stop everything stack.sh started (by pid: SIGTERM, then SIGKILL after
# STOP_TIMEOUT), the libvirtd of each compute node, whatever still runs in the compute
# namespaces, and remove the namespaces, veth pairs and the bridge. Data, database and
# RabbitMQ user/vhost are kept (clean.sh deletes them).
set -euo pipefail

SCRIPT_NAME=unstack
# shellcheck source-path=SCRIPTDIR source=lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/config.sh"
for lib in install netns rabbit database services libvirt; do
    # shellcheck source=/dev/null
    source "$DEVSTACK_DIR/lib/$lib.sh"
done

# Compute node numbers with a libvirt state directory (named after the node).
libvirt_node_indexes() {
    local dir k
    for dir in "$(libvirt_state_dir)/$COMPUTE_HOST_PREFIX"*/; do
        [ -d "$dir" ] || continue
        dir=${dir%/}
        k=${dir##*/"$COMPUTE_HOST_PREFIX"}
        [[ $k =~ ^[0-9]+$ ]] && echo "$k"
    done
    return 0
}

# Compute node numbers that have a namespace of ours.
netns_indexes() {
    local ns k
    for ns in /run/netns/"${NETNS_PREFIX}"cpu-*; do
        [ -e "$ns" ] || continue
        k=${ns##*cpu-}
        [[ $k =~ ^[0-9]+$ ]] && echo "$k"
    done
    return 0
}

main() {
    load_settings record
    require_root
    local services k
    mapfile -t services < <(recorded_services)
    if ((${#services[@]})); then
        stop_services "${services[@]}"
    else
        log "no novalite service recorded in $RUN_DIR"
    fi
    for k in $(libvirt_node_indexes); do
        stop_libvirt_host_if_any "$k"
    done
    for k in $(netns_indexes); do
        remove_compute_netns "$k"
    done
    remove_forwarding
    if [ "$(stacked_value NETNS)" = yes ] || [ "$NETNS" = yes ]; then
        remove_bridge
    fi
    log "stopped"
}

main "$@"
