#!/usr/bin/env bash
# pg.sh -- a throwaway PostgreSQL 15 cluster for the tests.
#
#   bash tests/pg.sh start DIR [WATCH_PID]
#       Creates a cluster in DIR/data, listening only on a unix socket in DIR
#       and on 127.0.0.1 at the first free port from 54320 upward, creates the
#       database "creditsense", and prints shell `export` lines on stdout:
#       PGHOST PGPORT PGUSER PGDATABASE CS_PG_ODBC.  Everything else goes to
#       stderr.  Use it as:  eval "$(bash tests/pg.sh start "$dir")"
#   bash tests/pg.sh stop DIR
#       Stops the cluster (pg_ctl stop -m fast).  Idempotent.
#
# A watchdog started with the cluster stops it when WATCH_PID (default: the
# process that called this script) disappears or DIR is removed, so a killed
# test run does not leave a server behind.
#
# PostgreSQL refuses to run as root: as root, the cluster is created and run
# as the "postgres" user (or "nobody" when there is none) and DIR is handed to
# that user; DIR's parent must then be searchable by it (chmod 755).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT_FIRST=54320
PORT_TRIES=40

die() { echo "pg.sh: $*" >&2; exit 1; }

# The user the server runs as; empty when it is us.
server_user() {
    if [ "$(id -u)" -ne 0 ]; then
        echo ""
    elif id -u postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# Run a command as the server user, from a directory that user can enter.
as_server() {
    local u
    u=$(server_user)
    if [ -z "$u" ]; then
        (cd "$DIR" && "$@")
    else
        (cd "$DIR" && runuser -u "$u" -- "$@")
    fi
}

# True when something already accepts connections on 127.0.0.1:$1.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_server() {
    local port=$1
    as_server "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o \
        "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0777 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2
}

# Stop the cluster when the watched process or DIR goes away.
start_watchdog() {
    local watch=$1
    local u
    u=$(server_user)
    # setsid + closed descriptors: the caller's $(...) must not wait for us.
    setsid bash -c '
        dir=$1 watch=$2 pgbin=$3 u=$4
        while kill -0 "$watch" 2>/dev/null && [ -f "$dir/data/postmaster.pid" ]; do sleep 1; done
        if [ -f "$dir/data/postmaster.pid" ]; then
            cd /
            if [ -n "$u" ]; then runuser -u "$u" -- "$pgbin/pg_ctl" -D "$dir/data" stop -m fast -w
            else "$pgbin/pg_ctl" -D "$dir/data" stop -m fast -w; fi
        fi
    ' pg-watchdog "$DIR" "$watch" "$PGBIN" "$u" </dev/null >/dev/null 2>&1 &
    echo $! >"$DIR/watchdog.pid"
}

# A single-quoted shell word.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# The process to watch: our caller.  A $(...) subshell is a fork of the
# caller, with the same command line, that ends right after us: look past it.
caller_pid() {
    local pid=$PPID parent
    while [ -r "/proc/$pid/stat" ]; do
        parent=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f2)
        [ -n "$parent" ] && [ "$parent" -gt 1 ] || break
        cmp -s "/proc/$pid/cmdline" "/proc/$parent/cmdline" || break
        pid=$parent
    done
    echo "$pid"
}

cmd_start() {
    local watch=${1:-$(caller_pid)}
    [ -x "$PGBIN/initdb" ] || die "no PostgreSQL binaries in $PGBIN; install postgresql-15"
    [ -e "$DIR/data/postmaster.pid" ] && die "a cluster is already running in $DIR; run: bash tests/pg.sh stop $DIR"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    # pg_ctl passes -o through /bin/sh, and the socket path is limited.
    [[ $DIR =~ ^[A-Za-z0-9_./+-]+$ ]] || die "DIR must be a plain path (letters, digits, _ . / + -): $DIR"
    [ ${#DIR} -le 90 ] || die "DIR is too long for a unix socket path: $DIR"
    local u
    u=$(server_user)
    if [ -n "$u" ]; then
        chown "$u" "$DIR"
        chmod 755 "$DIR"
        runuser -u "$u" -- test -w "$DIR" ||
            die "user $u cannot write $DIR; make its parent directories searchable (chmod 755)"
    fi
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_server "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 ||
            { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    local port=$PORT_FIRST started=0
    for ((i = 0; i < PORT_TRIES; i++, port++)); do
        port_busy "$port" && continue
        if start_server "$port"; then
            started=1
            break
        fi
        # Another server may have taken the port since we looked; anything
        # else is a real failure, not worth trying 40 times.
        tail -n 5 "$DIR/server.log" 2>/dev/null | grep -q "already in use" || break
        echo "pg.sh: port $port is taken, trying the next one" >&2
    done
    [ "$started" = 1 ] || { tail -n 20 "$DIR/server.log" >&2 || true; die "could not start PostgreSQL"; }
    start_watchdog "$watch"
    # \gexec: only when missing, so a DIR can be started again after a stop
    echo "SELECT 'CREATE DATABASE creditsense' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'creditsense') \\gexec" |
        "$PGBIN/psql" -X -q -h "$DIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >&2 ||
        { cmd_stop; die "could not create database creditsense"; }
    echo "export PGHOST=$(shq "$DIR")"
    echo "export PGPORT=$port"
    echo "export PGUSER=postgres"
    echo "export PGDATABASE=creditsense"
    echo "export CS_PG_ODBC=$(shq "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$port;Database=creditsense;Uid=postgres;")"
}

cmd_stop() {
    [ -d "$DIR" ] || return 0
    DIR=$(cd "$DIR" && pwd)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_server "$PGBIN/pg_ctl" -D "$DIR/data" stop -m fast -w >&2 || true
    fi
    if [ -f "$DIR/watchdog.pid" ]; then
        kill "$(cat "$DIR/watchdog.pid")" 2>/dev/null || true
        rm -f "$DIR/watchdog.pid"
    fi
    return 0
}

[ $# -ge 2 ] || die "usage: bash tests/pg.sh start|stop DIR [WATCH_PID]"
DIR=$2
case $1 in
start) cmd_start "${3:-}" ;;
stop) cmd_stop ;;
*) die "unknown command $1; use start or stop" ;;
esac
