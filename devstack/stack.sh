#!/usr/bin/env bash
# stack.sh: install and start novalite on this machine, devstack style.
#
# Settings come from the environment, then devstack/local.conf (copy local.conf.sample),
# then defaults; see lib/config.sh. With NETNS=yes (the default) every compute node runs
# in its own network namespace with its own address and reaches the controller's
# RabbitMQ over a bridge, as separate machines would. Re-running is safe: what exists is
# kept, running services whose config did not change are left alone, the others are
# restarted. unstack.sh stops everything, clean.sh also deletes the data.
set -euo pipefail

SCRIPT_NAME=stack
# shellcheck source-path=SCRIPTDIR source=lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/config.sh"
for lib in install netns rabbit database services resources libvirt; do
    # shellcheck source=/dev/null
    source "$DEVSTACK_DIR/lib/$lib.sh"
done

# Refuse to change names or backends under a running stack: unstack.sh first.
check_structural_changes() {
    local name old changed=()
    [ -f "$STACK_ENV" ] || return 0
    for name in "${STRUCTURAL_SETTINGS[@]}"; do
        old=$(stacked_value "$name")
        [ "$old" = "${!name}" ] || changed+=("$name ($old -> ${!name})")
    done
    ((${#changed[@]})) || return 0
    if previous_stack_exists; then
        die "settings changed since the last stack.sh: ${changed[*]}; run devstack/unstack.sh" \
            "(or clean.sh) first"
    fi
}

# A service, namespace or bridge of the previous stack.sh still exists.
previous_stack_exists() {
    local svc ns
    for svc in $(recorded_services); do
        service_running "$svc" && return 0
    done
    ns=$(stacked_value NETNS_PREFIX)
    [ -n "$ns" ] && compgen -G "/run/netns/${ns}cpu-*" >/dev/null && return 0
    [ "$(stacked_value NETNS)" = yes ] && link_exists "$(stacked_value BRIDGE_NAME)" && return 0
    return 1
}

generate_secrets() {
    [ -n "$ADMIN_TOKEN" ] || ADMIN_TOKEN=admin-$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    [ -n "$MEMBER_TOKEN" ] || MEMBER_TOKEN=demo-$(python3 -c 'import secrets; print(secrets.token_hex(12))')
}

# The address of this machine as the controller and other computes see it (NETNS=no).
compute_host_ip() {
    [ -n "$HOST_IP" ] || [ "$NETNS" = yes ] && return 0
    if is_local_address "$SERVICE_HOST"; then
        HOST_IP=$SERVICE_HOST
    else
        HOST_IP=$(ip -o route get "$SERVICE_HOST" | sed -n 's/.* src \([0-9.]*\).*/\1/p')
        [ -n "$HOST_IP" ] || die "no route to SERVICE_HOST $SERVICE_HOST"
    fi
}

setup_controller_backends() {
    start_rabbit
    # Unless every client is on loopback (NETNS=no on one machine).
    rabbit_listen_on_all_interfaces
    setup_rabbit_user_and_vhost
    [ "$DATABASE_TYPE" = sqlite ] || start_database_server
    create_database
}

setup_network() {
    [ "$NETNS" = yes ] || return 0
    local k
    for k in $(extra_compute_indexes); do
        stop_services "$(compute_host "$k")"
        stop_libvirt_host_if_any "$k"
        remove_compute_netns "$k"
    done
    if (($(num_computes) > 0)) || [ "$SERVICE_HOST" = "$(bridge_addr)" ]; then
        setup_bridge
    fi
    for ((k = 1; k <= $(num_computes); k++)); do
        setup_compute_netns "$k"
    done
    (($(num_computes) > 0)) && setup_forwarding_if_needed
    return 0
}

# Computes recorded by a previous run with more nodes (NETNS=no: no namespaces to tell).
stop_extra_computes() {
    local svc k
    for svc in $(recorded_services); do
        case $svc in "$COMPUTE_HOST_PREFIX"*) ;; *) continue ;; esac
        k=${svc#"$COMPUTE_HOST_PREFIX"}
        if ! [[ $k =~ ^[0-9]+$ ]] || ((k > $(num_computes))); then
            stop_services "$svc"
            stop_libvirt_host_if_any "$k"
        fi
    done
}

write_compute_confs() {
    local k
    for ((k = 1; k <= $(num_computes); k++)); do
        write_compute_conf "$k"
    done
}

# Services running with an older config: stopped together (each takes a few seconds to
# finish what it is doing), then started again below.
stop_outdated_services() {
    local svc outdated=()
    for svc in $(stack_services); do
        if service_running "$svc" && ! service_current "$svc"; then
            outdated+=("$svc")
        fi
    done
    ((${#outdated[@]} == 0)) || stop_services "${outdated[@]}"
}

start_computes() {
    local k
    for ((k = 1; k <= $(num_computes); k++)); do
        [ "$VIRT_DRIVER" = libvirt ] && start_libvirt_host "$k"
        start_service "$(compute_host "$k")"
    done
}

print_summary() {
    local k svc image
    image=$(default_image_name)
    cat <<SUMMARY

novalite is running.
  services:
SUMMARY
    for svc in $(stack_services); do
        printf '    %-12s pid %-8s %s\n' "$svc" "$(service_pid "$svc")" "$(log_file "$svc")"
    done
    if is_service_enabled compute; then
        echo "  compute nodes (VIRT_DRIVER=$VIRT_DRIVER):"
        for ((k = 1; k <= $(num_computes); k++)); do
            printf '    %-12s %-15s %s\n' "$(compute_host "$k")" "$(compute_ip "$k")" \
                "$([ "$NETNS" = no ] || echo "namespace $(netns_name "$k")")"
        done
    fi
    if is_service_enabled api; then
        cat <<SUMMARY
  API:          $API_URL
  admin token:  $ADMIN_TOKEN
  member token: $MEMBER_TOKEN   (project demo)
  config:       $ETC_DIR   logs: $LOG_DIR

Try it:
  export PATH=$VENV/bin:\$PATH
  export NOVALITE_URL=$API_URL NOVALITE_TOKEN=$ADMIN_TOKEN
  novalite service list
  novalite server create --flavor m1.tiny --image $image --wait vm1
  novalite server live-migrate --wait vm1
  novalite server resize --flavor m1.small --wait vm1 && novalite server resize-confirm --wait vm1
  novalite server show vm1 -c host -c status
SUMMARY
        if [ "$NETNS" = yes ]; then
            echo "  ip netns exec $(netns_name 1) ss -tn    # compute 1's connection to RabbitMQ"
        fi
        echo "  devstack/status.sh; devstack/unstack.sh; devstack/clean.sh"
    fi
}

main() {
    local started=$SECONDS
    load_settings stack
    validate_settings
    require_root
    check_structural_changes
    generate_secrets
    compute_host_ip
    mkdir -p "$DATA_DIR" "$LOG_DIR" "$ETC_DIR" "$RUN_DIR" "$IMAGE_DIR"
    # Recorded first, so that unstack.sh can undo a stack.sh that failed half way.
    write_record

    install_system_packages
    install_venv
    # The bridge first: its address is local to the controller from then on.
    setup_network
    stop_extra_computes
    if is_controller; then
        setup_controller_backends
        write_tokens
        write_controller_conf
        sync_database
    fi
    is_service_enabled compute && write_compute_confs
    stop_outdated_services

    local svc
    for svc in "${CONTROLLER_SERVICES[@]}"; do
        is_service_enabled "$svc" && start_service "$svc"
    done
    is_service_enabled compute && start_computes
    wait_for_stack
    if is_service_enabled api; then
        create_flavors
        create_images
    fi
    print_summary
    log "stack.sh completed in $((SECONDS - started)) s"
}

main "$@"
