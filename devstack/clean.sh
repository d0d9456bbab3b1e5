#!/usr/bin/env bash
# clean.sh: unstack.sh, then delete what stack.sh created: the database, the RabbitMQ
# virtual host and user (only if stack.sh created them), DATA_DIR and the log files.
# RabbitMQ's listener setting (/etc/rabbitmq/rabbitmq.conf, original kept as
# rabbitmq.conf.novalite-orig) stays: changing it back needs a restart of RabbitMQ.
set -euo pipefail

SCRIPT_NAME=clean
# shellcheck source-path=SCRIPTDIR source=lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/config.sh"
for lib in install netns rabbit database services; do
    # shellcheck source=/dev/null
    source "$DEVSTACK_DIR/lib/$lib.sh"
done

remove_logs() {
    [ -d "$LOG_DIR" ] || return 0
    rm -f "$LOG_DIR"/novalite-*.log
    rmdir "$LOG_DIR" 2>/dev/null || true
}

main() {
    load_settings record
    require_root
    bash "$DEVSTACK_DIR/unstack.sh"
    drop_databases
    delete_rabbit_users_and_vhosts
    remove_logs
    if [ -d "$DATA_DIR" ]; then
        # Only a directory stack.sh made its own (it holds stack.env) is deleted whole.
        if [ -f "$STACK_ENV" ]; then
            log "deleting $DATA_DIR"
            rm -rf "$DATA_DIR"
        else
            warn "$DATA_DIR has no stack.env: not deleting it"
        fi
    fi
    log "cleaned"
}

main "$@"
