#!/usr/bin/env bash
# status.sh: each service of the stack (pid, running or not, namespace and address, log
# file), the compute nodes' libvirtd when VIRT_DRIVER=libvirt, and `novalite service list`.
set -euo pipefail

SCRIPT_NAME=status
# shellcheck source-path=SCRIPTDIR source=lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/config.sh"
for lib in netns rabbit database services libvirt; do
    # shellcheck source=/dev/null
    source "$DEVSTACK_DIR/lib/$lib.sh"
done

# Every service stack.sh would run plus any still recorded, each once.
all_services() { { stack_services; recorded_services; } | awk '!seen[$0]++'; }

main() {
    load_settings record
    [ -f "$STACK_ENV" ] || { echo "no stack in $DATA_DIR (no stack.env)"; exit 1; }
    local svc pid state where k
    printf '%-12s %-8s %-8s %-32s %s\n' SERVICE PID STATE "NAMESPACE/ADDRESS" LOG
    for svc in $(all_services); do
        pid=$(service_pid "$svc")
        state=running
        [ -n "$pid" ] || { state=stopped; pid=-; }
        case $svc in
            api|conductor|scheduler) where="root/$SERVICE_HOST" ;;
            *)
                k=${svc#"$COMPUTE_HOST_PREFIX"}
                where="$(service_netns "$svc")"
                where="${where:-root}/$(compute_ip "$k")"
                ;;
        esac
        printf '%-12s %-8s %-8s %-32s %s\n' "$svc" "$pid" "$state" "$where" "$(log_file "$svc")"
    done
    if [ "$VIRT_DRIVER" = libvirt ]; then
        echo
        for ((k = 1; k <= $(num_computes); k++)); do
            if [ "$NETNS" = yes ] && ! netns_exists "$(netns_name "$k")"; then
                state="no namespace"
            elif libvirt_answers "$k"; then
                state=answers
            else
                state="not answering"
            fi
            printf 'libvirtd %-12s %-40s %s\n' "$(compute_host "$k")" "$(libvirt_uri "$k")" "$state"
        done
    fi
    echo
    if is_service_enabled api || [ -n "$ADMIN_TOKEN" ]; then
        echo "novalite service list ($API_URL):"
        cli service list || echo "(the API does not answer)"
    fi
}

main "$@"
