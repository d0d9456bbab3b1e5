# shellcheck shell=bash
# The controller's database: SQLite (a file in DATA_DIR), PostgreSQL or MariaDB on
# DATABASE_HOST, created if missing and kept across runs (clean.sh drops it).

pg() {
    PGPASSWORD=$DATABASE_PASSWORD psql -h "$DATABASE_HOST" -U "$DATABASE_USER" -d postgres \
        -v ON_ERROR_STOP=1 -qtA "$@"
}

my() {
    MYSQL_PWD=$DATABASE_PASSWORD mariadb -h "$DATABASE_HOST" -u "$DATABASE_USER" -N -B "$@"
}

sqlite_file() { echo "$DATA_DIR/novalite.sqlite"; }

database_url() {
    local auth=$DATABASE_USER
    [ -n "$DATABASE_PASSWORD" ] && auth+=":$DATABASE_PASSWORD"
    case $DATABASE_TYPE in
        sqlite) echo "sqlite:///$(sqlite_file)" ;;
        postgresql) echo "postgresql+psycopg2://$auth@$DATABASE_HOST/$DATABASE_NAME" ;;
        mysql) echo "mysql+pymysql://$auth@$DATABASE_HOST/$DATABASE_NAME?charset=utf8mb4" ;;
    esac
}

# Start the database server when it is on this machine and not answering (no systemd
# in containers: the commands tools/start-services.sh uses).
start_database_server() {
    case $DATABASE_TYPE in
        postgresql)
            port_open "$DATABASE_HOST" 5432 && return 0
            is_local_address "$DATABASE_HOST" || die "PostgreSQL on $DATABASE_HOST:5432 does not answer"
            log "starting PostgreSQL"
            # shellcheck disable=SC2012  # cluster versions are plain directory names
            pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
            wait_until 60 "PostgreSQL" port_open "$DATABASE_HOST" 5432 || die "PostgreSQL did not start"
            ;;
        mysql)
            port_open "$DATABASE_HOST" 3306 && return 0
            is_local_address "$DATABASE_HOST" || die "MariaDB on $DATABASE_HOST:3306 does not answer"
            log "starting MariaDB"
            start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
            wait_until 60 "MariaDB" port_open "$DATABASE_HOST" 3306 || die "MariaDB did not start"
            ;;
    esac
}

database_exists() {
    case $DATABASE_TYPE in
        sqlite) [ -f "$(sqlite_file)" ] ;;
        postgresql)
            [ "$(pg -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE_NAME'")" = 1 ] ;;
        mysql)
            [ -n "$(my -e "SHOW DATABASES LIKE '$DATABASE_NAME'")" ] ;;
    esac
}

create_database() {
    database_exists && { log "database $DATABASE_NAME ($DATABASE_TYPE) exists"; return 0; }
    log "creating database $DATABASE_NAME ($DATABASE_TYPE)"
    case $DATABASE_TYPE in
        sqlite) mkdir -p "$DATA_DIR" ;;  # novalite-manage db sync creates the file
        postgresql)
            pg -c "CREATE DATABASE \"$DATABASE_NAME\" ENCODING 'UTF8' TEMPLATE template0" ;;
        mysql)
            my -e "CREATE DATABASE IF NOT EXISTS \`$DATABASE_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" ;;
    esac
    record_created database "$DATABASE_TYPE:$DATABASE_NAME"
}

# Every database stack.sh created in this DATA_DIR (DATABASE_NAME may have changed
# between runs), each on its own backend.
drop_databases() {
    local kind spec record records
    [ -f "$CREATED_FILE" ] || return 0
    mapfile -t records < "$CREATED_FILE"
    for record in "${records[@]}"; do
        read -r kind spec <<<"$record"
        [ "$kind" = database ] || continue
        drop_database "${spec%%:*}" "${spec#*:}" || warn "could not drop database $spec"
    done
}

# drop_database TYPE NAME
drop_database() {
    # Shadow the settings for pg/my (bash scoping is dynamic); the user is the setting's
    # only for the configured backend.
    local user=$DATABASE_USER
    if [ "$1" != "$DATABASE_TYPE" ]; then
        case $1 in postgresql) user=postgres ;; mysql) user=root ;; esac
    fi
    local DATABASE_TYPE=$1 DATABASE_NAME=$2 DATABASE_USER=$user
    log "dropping database $DATABASE_NAME ($DATABASE_TYPE)"
    case $DATABASE_TYPE in
        sqlite) rm -f "$(sqlite_file)" "$(sqlite_file)"-* ;;
        postgresql) pg -c "DROP DATABASE IF EXISTS \"$DATABASE_NAME\" WITH (FORCE)" ;;
        mysql) my -e "DROP DATABASE IF EXISTS \`$DATABASE_NAME\`" ;;
    esac
}

sync_database() {
    log "novalite-manage db sync"
    "$VENV/bin/novalite-manage" --config-file "$CONTROLLER_CONF" db sync \
        || die "novalite-manage db sync failed"
}
