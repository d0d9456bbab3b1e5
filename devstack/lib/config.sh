# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings and paths are used by the scripts sourcing this
# Settings, their sources and their defaults; logging helpers. Sourced by every script.
#
# Where a setting comes from, strongest first:
#   1. the environment (so that tests and one-off runs can override anything),
#   2. devstack/local.conf (shell assignments, NAME=value; see local.conf.sample),
#   3. for unstack.sh, clean.sh and status.sh: what stack.sh recorded in
#      $DATA_DIR/stack.env (what is really running), and for stack.sh only the generated
#      secrets recorded there (tokens survive a re-run),
#   4. the defaults below.

DEVSTACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(dirname "$DEVSTACK_DIR")

# Every setting a script may read. stack.sh records all of them in $DATA_DIR/stack.env.
SETTINGS=(
    ENABLED_SERVICES NUM_COMPUTE_NODES VIRT_DRIVER
    DATABASE_TYPE DATABASE_NAME DATABASE_HOST DATABASE_USER DATABASE_PASSWORD
    SERVICE_HOST HOST_IP API_LISTEN API_PORT
    NETNS NETNS_SUBNET NETNS_PREFIX BRIDGE_NAME VETH_PREFIX COMPUTE_HOST_PREFIX
    RABBIT_HOST RABBIT_PORT RABBIT_USER RABBIT_PASSWORD RABBIT_VHOST
    ADMIN_TOKEN MEMBER_TOKEN
    DATA_DIR LOG_DIR VENV PYTHON INSTALL_PACKAGES
    REPORT_INTERVAL SERVICE_DOWN_TIME DEBUG FAKE_LIVE_MIGRATION_SECONDS
    STOP_TIMEOUT WAIT_TIMEOUT
    LIBVIRT_TCP_PORT LIBVIRT_MIGRATION_PORT_MIN GUEST_DIR
)
# Settings that decide what exists (names, addresses, backends): changing one while a
# stack runs would orphan what the old value made, so stack.sh refuses that.
STRUCTURAL_SETTINGS=(
    NETNS NETNS_SUBNET NETNS_PREFIX BRIDGE_NAME VETH_PREFIX COMPUTE_HOST_PREFIX
    VIRT_DRIVER DATABASE_TYPE DATABASE_NAME RABBIT_VHOST RABBIT_USER LOG_DIR
)
# Generated when not given, and kept across runs of stack.sh.
SECRET_SETTINGS=(ADMIN_TOKEN MEMBER_TOKEN)

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${SCRIPT_NAME:-devstack}" "$*"; }
warn() { log "WARNING: $*" >&2; }
die() { log "ERROR: $*" >&2; exit 1; }

# load_settings MODE: MODE is "stack" (stack.sh) or "record" (the other scripts).
load_settings() {
    local mode=$1 name conf
    local -A from_env=()
    for name in "${SETTINGS[@]}"; do
        if [[ -v $name ]]; then
            from_env[$name]=${!name}
        fi
    done
    conf=${LOCAL_CONF:-$DEVSTACK_DIR/local.conf}
    if [ -f "$conf" ]; then
        # shellcheck source=/dev/null
        source "$conf"
    fi
    for name in "${!from_env[@]}"; do
        printf -v "$name" '%s' "${from_env[$name]}"
    done

    : "${DATA_DIR:=/opt/novalite/data}"
    STACK_ENV=$DATA_DIR/stack.env
    load_record "$mode" from_env
    apply_defaults
}

# The previous stack's settings, as STACKED_<NAME> variables; applied per MODE.
load_record() {
    local mode=$1 name stacked
    local -n env_set=$2
    [ -f "$STACK_ENV" ] || return 0
    # shellcheck source=/dev/null
    source "$STACK_ENV"
    for name in "${SETTINGS[@]}"; do
        stacked=STACKED_$name
        [[ -v $stacked ]] || continue
        [[ -v env_set[$name] ]] && continue
        if [ "$mode" = record ]; then
            printf -v "$name" '%s' "${!stacked}"
        elif [[ " ${SECRET_SETTINGS[*]} " == *" $name "* ]] && [[ ! -v $name ]]; then
            printf -v "$name" '%s' "${!stacked}"
        fi
    done
}

apply_defaults() {
    : "${ENABLED_SERVICES:=api,conductor,scheduler,compute}"
    : "${NUM_COMPUTE_NODES:=2}"
    : "${VIRT_DRIVER:=fake}"
    : "${DATABASE_TYPE:=sqlite}"
    : "${DATABASE_NAME:=novalite}"
    : "${DATABASE_HOST:=127.0.0.1}"
    case $DATABASE_TYPE in
        postgresql) : "${DATABASE_USER:=postgres}" ;;
        mysql) : "${DATABASE_USER:=root}" ;;
        *) : "${DATABASE_USER:=}" ;;
    esac
    : "${DATABASE_PASSWORD:=}"
    : "${NETNS:=yes}"
    : "${NETNS_SUBNET:=10.42.0}"
    : "${NETNS_PREFIX:=novalite-}"
    : "${BRIDGE_NAME:=novalite-br0}"
    : "${VETH_PREFIX:=nlv-cpu-}"
    : "${COMPUTE_HOST_PREFIX:=cpu-}"
    if [ "$NETNS" = yes ]; then
        : "${SERVICE_HOST:=$NETNS_SUBNET.1}"
    else
        : "${SERVICE_HOST:=127.0.0.1}"
    fi
    : "${HOST_IP:=}"  # computed in stack.sh when empty (see compute_host_ip)
    : "${API_LISTEN:=0.0.0.0}"
    : "${API_PORT:=8774}"
    : "${RABBIT_HOST:=$SERVICE_HOST}"
    : "${RABBIT_PORT:=5672}"
    : "${RABBIT_USER:=novalite}"
    : "${RABBIT_PASSWORD:=novalite}"
    : "${RABBIT_VHOST:=novalite}"
    : "${ADMIN_TOKEN:=}"
    : "${MEMBER_TOKEN:=}"
    : "${LOG_DIR:=$DATA_DIR/logs}"
    : "${VENV:=$REPO_DIR/.venv}"
    : "${PYTHON:=python3}"
    : "${INSTALL_PACKAGES:=yes}"
    : "${REPORT_INTERVAL:=2}"
    : "${SERVICE_DOWN_TIME:=10}"
    : "${DEBUG:=True}"
    : "${FAKE_LIVE_MIGRATION_SECONDS:=2}"
    : "${STOP_TIMEOUT:=20}"
    : "${WAIT_TIMEOUT:=120}"
    : "${LIBVIRT_TCP_PORT:=16509}"
    : "${LIBVIRT_MIGRATION_PORT_MIN:=49152}"
    : "${GUEST_DIR:=$REPO_DIR/.cache/libvirt-guest}"

    # Derived paths, not settings.
    ETC_DIR=$DATA_DIR/etc
    RUN_DIR=$DATA_DIR/run
    IMAGE_DIR=$DATA_DIR/images
    CREATED_FILE=$DATA_DIR/created
    CONTROLLER_CONF=$ETC_DIR/controller.conf
    TOKEN_FILE=$ETC_DIR/tokens.json
    API_URL=http://$SERVICE_HOST:$API_PORT/v2.1
    if [ "$SERVICE_HOST" = 0.0.0.0 ]; then
        API_URL=http://127.0.0.1:$API_PORT/v2.1
    fi
}

validate_settings() {
    local svc
    for svc in ${ENABLED_SERVICES//,/ }; do
        case $svc in
            api|conductor|scheduler|compute) ;;
            *) die "ENABLED_SERVICES: unknown service '$svc' (api, conductor, scheduler, compute)" ;;
        esac
    done
    if ! [[ $NUM_COMPUTE_NODES =~ ^[0-9]+$ ]] || ((NUM_COMPUTE_NODES > 200)); then
        die "NUM_COMPUTE_NODES must be a number from 0 to 200"
    fi
    case $VIRT_DRIVER in fake|libvirt) ;; *) die "VIRT_DRIVER must be fake or libvirt" ;; esac
    case $DATABASE_TYPE in
        sqlite|postgresql|mysql) ;;
        *) die "DATABASE_TYPE must be sqlite, postgresql or mysql" ;;
    esac
    case $NETNS in yes|no) ;; *) die "NETNS must be yes or no" ;; esac
    [[ $NETNS_SUBNET =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
        || die "NETNS_SUBNET must be the first three octets of a /24, e.g. 10.42.0"
    [[ $DATABASE_NAME =~ ^[A-Za-z0-9_]+$ ]] || die "DATABASE_NAME: letters, digits and _ only"
    # Interface names are limited to 15 characters.
    ((${#BRIDGE_NAME} <= 15)) || die "BRIDGE_NAME '$BRIDGE_NAME' is longer than 15 characters"
    ((${#VETH_PREFIX} + ${#NUM_COMPUTE_NODES} <= 15)) \
        || die "VETH_PREFIX '$VETH_PREFIX' is too long for interface names (15 characters)"
    if [ "$NETNS" = yes ] && [[ $RABBIT_HOST == 127.* || $RABBIT_HOST == localhost ]]; then
        die "NETNS=yes: the compute namespaces cannot reach RabbitMQ at $RABBIT_HOST (loopback)"
    fi
    case $VENV in /*) ;; *) VENV=$(realpath -m "$VENV") ;; esac
    case $DATA_DIR in /*) ;; *) die "DATA_DIR must be an absolute path" ;; esac
    case $LOG_DIR in /*) ;; *) die "LOG_DIR must be an absolute path" ;; esac
}

is_service_enabled() { [[ ",$ENABLED_SERVICES," == *",$1,"* ]]; }

# Any controller service here: RabbitMQ and the database live on this machine.
is_controller() {
    is_service_enabled api || is_service_enabled conductor || is_service_enabled scheduler
}

num_computes() {
    if is_service_enabled compute; then echo "$NUM_COMPUTE_NODES"; else echo 0; fi
}

# Record the effective settings for the other scripts and the next stack.sh.
write_record() {
    local name tmp
    mkdir -p "$DATA_DIR"
    tmp=$(mktemp "$DATA_DIR/.stack.env.XXXXXX")
    {
        echo "# written by devstack/stack.sh on $(date -Is); read by unstack/clean/status"
        for name in "${SETTINGS[@]}"; do
            printf 'STACKED_%s=%q\n' "$name" "${!name}"
        done
    } > "$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$STACK_ENV"
}

# The previous stack's value of a setting ("" when there was none).
stacked_value() {
    local stacked=STACKED_$1
    echo "${!stacked:-}"
}

# Resources stack.sh made (and clean.sh may delete): one "KIND NAME" line each.
record_created() {
    mkdir -p "$DATA_DIR"
    grep -qxF "$1 $2" "$CREATED_FILE" 2>/dev/null || echo "$1 $2" >> "$CREATED_FILE"
}

was_created() { grep -qxF "$1 $2" "$CREATED_FILE" 2>/dev/null; }

# Undone: no longer ours to undo.
forget_created() {
    [ -f "$CREATED_FILE" ] || return 0
    local rest
    rest=$(grep -vxF "$1 $2" "$CREATED_FILE" || true)
    printf '%s\n' "$rest" | sed '/^$/d' > "$CREATED_FILE"
}

require_root() {
    [ "$(id -u)" = 0 ] || die "run as root (namespaces, packages, rabbitmqctl need it)"
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND until it succeeds.
wait_until() {
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || { warn "timed out after ${seconds}s waiting for $what"; return 1; }
        sleep 0.5
    done
}
