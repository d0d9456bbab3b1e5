#!/usr/bin/env bash
# Start RabbitMQ, PostgreSQL and MariaDB on this machine if they are not answering.
# Debian/Ubuntu without systemd (containers, CI); with systemd use `systemctl start`.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
    echo "service on port $1 did not come up" >&2
    return 1
}

if ! port_open 5672; then
    rabbitmq-server -detached
    wait_port 5672
fi
if ! port_open 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_port 5432
fi
if ! port_open 3306; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_port 3306
fi
exit 0
