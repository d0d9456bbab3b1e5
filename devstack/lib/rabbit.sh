# shellcheck shell=bash
# RabbitMQ on the controller: running, reachable from the compute nodes, with a user
# and a virtual host of our own (the guest user may only log in over loopback).

RABBIT_CONF=/etc/rabbitmq/rabbitmq.conf

# rabbitmqctl reads stdin: never let it eat a caller's input.
rabbit_ctl() { timeout 120 rabbitmqctl -q "$@" </dev/null; }

start_rabbit() {
    port_open 127.0.0.1 "$RABBIT_PORT" && return 0
    log "starting RabbitMQ"
    rabbitmq-server -detached </dev/null >/dev/null 2>&1
    wait_rabbit
}

wait_rabbit() {
    wait_until 120 "RabbitMQ on port $RABBIT_PORT" port_open 127.0.0.1 "$RABBIT_PORT" \
        || die "RabbitMQ did not start"
    rabbit_ctl await_startup >/dev/null 2>&1 || true
}

# Every TCP listener on the AMQP port is bound to a loopback address.
rabbit_loopback_only() {
    local addrs
    addrs=$(ss -ltnH "sport = :$RABBIT_PORT" | awk '{print $4}' | sed 's/:[0-9]*$//')
    [ -n "$addrs" ] || return 1
    ! grep -qvE '^(127\.[0-9.]+|\[::1\])$' <<<"$addrs"
}

# Compute nodes connect to RabbitMQ at SERVICE_HOST; if it listens on loopback only,
# make it listen on every interface and restart it (only then: a restart drops every
# client connection on this machine).
rabbit_listen_on_all_interfaces() {
    case $RABBIT_HOST in 127.*|localhost) return 0 ;; esac
    rabbit_loopback_only || return 0
    log "RabbitMQ listens on loopback only; making it listen on all interfaces ($RABBIT_CONF)"
    mkdir -p "$(dirname "$RABBIT_CONF")"
    touch "$RABBIT_CONF"
    [ -e "$RABBIT_CONF.novalite-orig" ] || cp -p "$RABBIT_CONF" "$RABBIT_CONF.novalite-orig"
    # Another listener on the same port (listeners.tcp.local = 127.0.0.1:5672 here)
    # would collide with the wildcard one.
    sed -i -E 's/^([[:space:]]*listeners\.tcp\.)/# disabled by novalite devstack: \1/' \
        "$RABBIT_CONF"
    echo "listeners.tcp.default = $RABBIT_PORT" >> "$RABBIT_CONF"
    log "restarting RabbitMQ (rabbitmqctl stop; rabbitmq-server -detached)"
    rabbit_ctl stop >/dev/null 2>&1 || true
    wait_until 60 "RabbitMQ to stop" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$RABBIT_PORT)" \
        2>/dev/null || true
    rabbitmq-server -detached </dev/null >/dev/null 2>&1
    wait_rabbit
    rabbit_loopback_only && die "RabbitMQ still listens on loopback only; see $RABBIT_CONF"
    return 0
}

rabbit_user_exists() { rabbit_ctl list_users | awk '{print $1}' | grep -qxF "$RABBIT_USER"; }
rabbit_vhost_exists() { rabbit_ctl list_vhosts | grep -qxF "$RABBIT_VHOST"; }

setup_rabbit_user_and_vhost() {
    if rabbit_user_exists; then
        rabbit_ctl change_password "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
    else
        log "creating RabbitMQ user $RABBIT_USER"
        rabbit_ctl add_user "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
        record_created rabbit_user "$RABBIT_USER"
    fi
    if ! rabbit_vhost_exists; then
        log "creating RabbitMQ virtual host $RABBIT_VHOST"
        rabbit_ctl add_vhost "$RABBIT_VHOST" >/dev/null
        record_created rabbit_vhost "$RABBIT_VHOST"
    fi
    rabbit_ctl set_permissions -p "$RABBIT_VHOST" "$RABBIT_USER" '.*' '.*' '.*' >/dev/null
}

# Only what stack.sh created (in this DATA_DIR): a user or vhost that existed before is
# left alone.
delete_rabbit_users_and_vhosts() {
    local kind name record records
    [ -f "$CREATED_FILE" ] || return 0
    command -v rabbitmqctl >/dev/null || return 0
    port_open 127.0.0.1 "$RABBIT_PORT" || { warn "RabbitMQ is not running"; return 0; }
    mapfile -t records < "$CREATED_FILE"
    for record in "${records[@]}"; do
        read -r kind name <<<"$record"
        case $kind in
            rabbit_vhost)
                rabbit_ctl list_vhosts | grep -qxF "$name" || continue
                log "deleting RabbitMQ virtual host $name"
                rabbit_ctl delete_vhost "$name" >/dev/null || warn "could not delete vhost $name"
                ;;
            rabbit_user)
                rabbit_ctl list_users | awk '{print $1}' | grep -qxF "$name" || continue
                log "deleting RabbitMQ user $name"
                rabbit_ctl delete_user "$name" >/dev/null || warn "could not delete user $name"
                ;;
        esac
    done
}

# transport_url for a process that reaches RabbitMQ at HOST.
transport_url() {
    # User, password and vhost (the URL's path) percent-encoded.
    python3 - "$1" "$RABBIT_PORT" "$RABBIT_USER" "$RABBIT_PASSWORD" "$RABBIT_VHOST" <<'PY'
import sys
from urllib.parse import quote
host, port, user, password, vhost = sys.argv[1:]
print(f"rabbit://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
      f"{quote(vhost, safe='')}")
PY
}
