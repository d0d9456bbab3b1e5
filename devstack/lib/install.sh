# shellcheck shell=bash
# Installing what is missing: Debian packages and the Python virtualenv.

# apt_install PACKAGE...: install the packages that are not installed yet.
apt_install() {
    local pkg status missing=()
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    [ "$INSTALL_PACKAGES" = yes ] || die "missing packages ${missing[*]} (INSTALL_PACKAGES=no)"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # From the current package lists first; refresh them only if that fails.
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

install_system_packages() {
    apt_install iproute2 procps
    if is_controller; then
        command -v rabbitmqctl >/dev/null || apt_install rabbitmq-server
        case $DATABASE_TYPE in
            postgresql)
                command -v psql >/dev/null || apt_install postgresql-client
                [ -d /etc/postgresql ] || apt_install postgresql
                ;;
            mysql)
                command -v mariadb >/dev/null || apt_install mariadb-client
                [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
                ;;
        esac
    fi
    if [ "$VIRT_DRIVER" = libvirt ] && is_service_enabled compute; then
        bash "$REPO_DIR/tools/libvirt/install.sh"
    fi
}

# The pip extras this stack needs besides novalite itself.
pip_extras() {
    local extras=()
    if is_controller; then
        case $DATABASE_TYPE in
            postgresql) extras+=(postgresql) ;;
            mysql) extras+=(mysql) ;;
        esac
    fi
    [ "$VIRT_DRIVER" = libvirt ] && extras+=(libvirt)
    local IFS=,
    echo "${extras[*]}"
}

# Whether VENV already has this checkout installed with the modules the extras bring.
venv_ready() {
    local modules="import novalite, novalite.cli.main"
    case ",$1," in *,postgresql,*) modules+=", psycopg2" ;; esac
    case ",$1," in *,mysql,*) modules+=", pymysql" ;; esac
    case ",$1," in *,libvirt,*) modules+=", libvirt" ;; esac
    [ -x "$VENV/bin/novalite-compute" ] || return 1
    local where
    where=$("$VENV/bin/python" -c "$modules; print(novalite.__file__)" 2>/dev/null) || return 1
    [ "$where" = "$REPO_DIR/novalite/__init__.py" ]
}

install_venv() {
    local extras spec
    extras=$(pip_extras)
    if venv_ready "$extras"; then
        log "virtualenv $VENV has novalite from $REPO_DIR${extras:+ [$extras]}"
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        if ! "$PYTHON" -m venv "$VENV"; then
            # Debian's python3 keeps ensurepip in a separate package.
            apt_install python3-venv
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    spec=$REPO_DIR${extras:+[$extras]}
    log "pip install -c constraints.txt -e $spec"
    "$VENV/bin/pip" install -q -c "$REPO_DIR/constraints.txt" -e "$spec"
    venv_ready "$extras" || die "novalite is not importable from $VENV after pip install"
}
