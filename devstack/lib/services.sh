# shellcheck shell=bash
# Config files, and the novalite processes: started in the background (computes inside
# their namespace) with a log file and a pid file each, stopped by pid.
#
# A service whose process is alive and was started with the config file as it is now is
# left alone on a re-run; one whose config changed is restarted.

CONTROLLER_SERVICES=(conductor scheduler api)

compute_host() { echo "${COMPUTE_HOST_PREFIX}$1"; }
compute_conf() { echo "$ETC_DIR/$(compute_host "$1").conf"; }
service_conf() {
    case $1 in
        api|conductor|scheduler) echo "$CONTROLLER_CONF" ;;
        *) echo "$ETC_DIR/$1.conf" ;;
    esac
}
service_binary() {
    case $1 in
        api|conductor|scheduler) echo "novalite-$1" ;;
        *) echo novalite-compute ;;
    esac
}
pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() {
    case $1 in
        api|conductor|scheduler) echo "$LOG_DIR/novalite-$1.log" ;;
        *) echo "$LOG_DIR/novalite-compute-$1.log" ;;
    esac
}
# The namespace a service runs in ("" for the root namespace).
service_netns() {
    local k
    case $1 in api|conductor|scheduler) return 0 ;; esac
    [ "$NETNS" = yes ] || return 0
    k=${1#"$COMPUTE_HOST_PREFIX"}
    netns_name "$k"
}

# Every service this stack runs here, controller first.
stack_services() {
    local svc k
    for svc in "${CONTROLLER_SERVICES[@]}"; do
        is_service_enabled "$svc" && echo "$svc"
    done
    for ((k = 1; k <= $(num_computes); k++)); do
        compute_host "$k"
    done
    return 0
}

# Services with a pid file (whatever the settings say now): what unstack.sh stops.
recorded_services() {
    local f
    for f in "$RUN_DIR"/*.pid; do
        [ -e "$f" ] || continue
        basename "$f" .pid
    done
}

# --- config files ------------------------------------------------------------------------

# Replace PATH with stdin unless it already has that content (mtime kept then).
write_file_if_changed() {  # write_file_if_changed PATH MODE < content
    local path=$1 mode=$2 tmp
    mkdir -p "$(dirname "$path")"
    tmp=$(mktemp "$path.XXXXXX")
    cat > "$tmp"
    chmod "$mode" "$tmp"
    if cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$path"
    fi
}

# Faster failure detection than oslo.messaging's defaults, so that a compute node whose
# link was cut reconnects soon after it comes back: missed AMQP heartbeats (rather than
# TCP timeouts, minutes) declare the connection dead, and retries are at most 3 s apart.
messaging_section() {
    cat <<CONF
[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 10
heartbeat_rate = 3
rabbit_retry_interval = 1
rabbit_retry_backoff = 1
rabbit_interval_max = 3
kombu_reconnect_delay = 0.5
CONF
}

write_tokens() {
    write_file_if_changed "$TOKEN_FILE" 600 <<JSON
{
  "$ADMIN_TOKEN": {"user_id": "admin", "project_id": "admin",
                   "roles": ["admin", "member", "reader"]},
  "$MEMBER_TOKEN": {"user_id": "demo", "project_id": "demo", "roles": ["member", "reader"]}
}
JSON
}

write_controller_conf() {
    # shellcheck disable=SC2153  # a setting (lib/config.sh)
    local rabbit_host=$RABBIT_HOST
    # RabbitMQ is on this machine: the controller's own services use loopback.
    is_local_address "$RABBIT_HOST" && rabbit_host=127.0.0.1
    write_file_if_changed "$CONTROLLER_CONF" 600 <<CONF
# Written by devstack/stack.sh for novalite-api, -conductor and -scheduler; rewritten
# (and those services restarted) when stack.sh runs with other settings.
[DEFAULT]
host = controller
my_ip = $SERVICE_HOST
state_path = $DATA_DIR/controller
transport_url = $(transport_url "$rabbit_host")
report_interval = $REPORT_INTERVAL
service_down_time = $SERVICE_DOWN_TIME
debug = $DEBUG

[database]
connection = $(database_url)

[api]
listen = $API_LISTEN
port = $API_PORT
auth_strategy = token
token_file = $TOKEN_FILE

[image]
local_dir = $IMAGE_DIR

$(messaging_section)
CONF
}

# The address compute K is known by (my_ip, live-migration address).
compute_ip() {
    if [ "$NETNS" = yes ]; then compute_addr "$1"; else echo "$HOST_IP"; fi
}

write_compute_conf() {
    local k=$1 host ip
    host=$(compute_host "$k")
    ip=$(compute_ip "$k")
    mkdir -p "$DATA_DIR/$host"
    {
        cat <<CONF
# Written by devstack/stack.sh for novalite-compute on $host. No [database]: compute
# agents reach everything through RabbitMQ.
[DEFAULT]
host = $host
my_ip = $ip
state_path = $DATA_DIR/$host
transport_url = $(transport_url "$RABBIT_HOST")
compute_driver = $VIRT_DRIVER
report_interval = $REPORT_INTERVAL
service_down_time = $SERVICE_DOWN_TIME
# A heartbeat over a dead link fails after 5 s instead of 30.
rpc_response_timeout_short = 5
debug = $DEBUG

[compute]
reserved_host_memory_mb = 0

[image]
local_dir = $IMAGE_DIR

[fake_driver]
live_migration_seconds = $FAKE_LIVE_MIGRATION_SECONDS

CONF
        [ "$VIRT_DRIVER" = libvirt ] && libvirt_conf_section "$k"
        messaging_section
    } | write_file_if_changed "$(compute_conf "$k")" 600
}

# --- processes ---------------------------------------------------------------------------

read_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }

# The pid of a service's process when it is alive (and really that service), else "".
service_pid() {
    local svc=$1 pid
    pid=$(read_pid "$svc")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    grep -q State:.Z "/proc/$pid/status" 2>/dev/null && return 0
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "--config-file $(service_conf "$svc")"; then
        echo "$pid"
    fi
}

service_running() { [ -n "$(service_pid "$1")" ]; }

# The checksum of the config file a service was started with.
conf_sum() { sha256sum "$(service_conf "$1")" | cut -c1-64; }

# Running with its current config, in its namespace: nothing to do.
service_current() {
    local svc=$1 pid ns
    pid=$(service_pid "$svc")
    [ -n "$pid" ] || return 1
    [ "$(cat "$RUN_DIR/$svc.conf-sum" 2>/dev/null)" = "$(conf_sum "$svc")" ] || return 1
    ns=$(service_netns "$svc")
    if [ -n "$ns" ]; then
        [ "$(ip netns identify "$pid" 2>/dev/null)" = "$ns" ] || return 1
    fi
    return 0
}

# start_service NAME: start it (or restart it when its config changed).
start_service() {
    local svc=$1 ns pidfile log cmd
    if service_current "$svc"; then
        log "$svc already running (pid $(service_pid "$svc")), config unchanged"
        return 0
    fi
    service_running "$svc" && stop_services "$svc"
    ns=$(service_netns "$svc")
    pidfile=$(pid_file "$svc")
    log=$(log_file "$svc")
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    rm -f "$pidfile"
    cmd=("$VENV/bin/$(service_binary "$svc")" --config-file "$(service_conf "$svc")")
    [ -n "$ns" ] && cmd=(ip netns exec "$ns" "${cmd[@]}")
    echo "--- $(date -Is) starting: ${cmd[*]}" >> "$log"
    # setsid: its own session, so that the caller's Ctrl-C or hangup does not reach it.
    # The inner shell writes its own pid, then becomes the service (ip netns exec execs
    # the command too, so the pid stays the service's).
    # shellcheck disable=SC2016  # expanded by the inner shell
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' start "$pidfile" "${cmd[@]}" \
        </dev/null >>"$log" 2>&1 &
    wait_until 10 "$svc's pid file" test -s "$pidfile" || die "$svc did not start"
    conf_sum "$svc" > "$RUN_DIR/$svc.conf-sum"
    log "started $svc (pid $(read_pid "$svc")${ns:+, namespace $ns}), log $log"
}

# stop_services NAME...: SIGTERM to each, wait up to STOP_TIMEOUT, then SIGKILL.
stop_services() {
    local svc pid pids=() names=() deadline
    for svc in "$@"; do
        pid=$(service_pid "$svc")
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$svc")
        fi
    done
    ((${#pids[@]})) && log "stopping ${names[*]} (SIGTERM)"
    deadline=$((SECONDS + STOP_TIMEOUT))
    while ((SECONDS < deadline)) && any_alive "${pids[@]}"; do
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if pid_alive "$pid"; then
            warn "pid $pid did not stop in ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for svc in "$@"; do
        rm -f "$(pid_file "$svc")" "$RUN_DIR/$svc.conf-sum"
    done
}

pid_alive() { [ -r "/proc/$1/status" ] && ! grep -q State:.Z "/proc/$1/status" 2>/dev/null; }

any_alive() {
    local pid
    for pid in "$@"; do
        pid_alive "$pid" && return 0
    done
    return 1
}

# --- readiness, through the CLI ------------------------------------------------------------

cli() { NOVALITE_URL=$API_URL NOVALITE_TOKEN=$ADMIN_TOKEN "$VENV/bin/novalite" "$@"; }

api_answers() { cli service list -f value -c ID >/dev/null 2>&1; }

# "binary host state" lines, one per service.
service_states() { cli service list -f value -c Binary -c Host -c State 2>/dev/null; }

# Every service of this stack is up in `novalite service list`, and every compute node
# has reported its resources (it heartbeats before it asks its hypervisor for them, and
# a build finds no host until it has).
all_services_up() {
    local states hypervisors svc binary host
    states=$(service_states) || return 1
    hypervisors=$(cli hypervisor list -f value -c "Hypervisor Hostname" 2>/dev/null) || return 1
    for svc in $(stack_services); do
        case $svc in
            api) continue ;;  # its own heartbeat row may lag; the API answering is enough
            conductor|scheduler) binary=novalite-$svc host=controller ;;
            *)
                binary=novalite-compute host=$svc
                grep -qxF "$host" <<<"$hypervisors" || return 1
                ;;
        esac
        grep -qxF "$binary $host up" <<<"$states" || return 1
    done
}

# A service died right after starting: say so, with the end of its log.
check_alive() {
    local svc
    for svc in "$@"; do
        if ! service_running "$svc"; then
            warn "$svc is not running; the end of $(log_file "$svc"):"
            tail -n 20 "$(log_file "$svc")" >&2 || true
            return 1
        fi
    done
}

# A compute agent logs this once it has reached the conductor and serves RPC (since the
# last start: the log file is appended to).
compute_started() {
    awk -v want="novalite-compute started on host $1 " '
        /^--- .* starting: / { found = 0 }
        index($0, want) { found = 1 }
        END { exit !found }' "$(log_file "$1")" 2>/dev/null
}

wait_for_stack() {
    local svcs
    mapfile -t svcs < <(stack_services)
    if is_service_enabled api; then
        wait_until "$WAIT_TIMEOUT" "the API at $API_URL" api_answers \
            || { check_alive "${svcs[@]}"; die "the API does not answer at $API_URL"; }
    fi
    if [ -n "$ADMIN_TOKEN" ]; then
        # The API of this stack, or of the controller (compute-only machine with tokens).
        wait_until "$WAIT_TIMEOUT" "every service up in 'novalite service list'" all_services_up \
            || { check_alive "${svcs[@]}"; service_states >&2; die "services are not all up"; }
    else
        local k
        for ((k = 1; k <= $(num_computes); k++)); do
            wait_until "$WAIT_TIMEOUT" "$(compute_host "$k") to reach the conductor" \
                compute_started "$(compute_host "$k")" \
                || { check_alive "${svcs[@]}"; die "$(compute_host "$k") did not start"; }
        done
    fi
    check_alive "${svcs[@]}" || die "a service stopped"
}
