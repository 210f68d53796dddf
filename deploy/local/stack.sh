#!/usr/bin/env bash
# Local, Docker-free runtime: a project-local PostgreSQL cluster and a real
# single-node Apache Kafka broker (KRaft, jars from Maven Central).
#
# Usage: deploy/local/stack.sh <command> <instance>
#   commands:  up | down | status | env
#              start-kafka | kill-kafka | start-postgres | kill-postgres   (fault tests)
#   instances: dev  (Postgres 25432, Kafka 29092, controller 29093)
#              test (Postgres 26432, Kafka 29192, controller 29193)
#   Every port sits below Linux's ephemeral range (32768-60999): a port in it can already be
#   taken by some outgoing connection's local end, and the server then cannot bind it.
#
# Everything of an instance lives in <repo>/.local/<instance>/; the Kafka jars are
# shared in <repo>/.local/kafka/libs. No system service is used or started.
# `status` exits 0 when both are up, 3 otherwise.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
LOCAL="$REPO/.local"
KAFKA_HOME="$LOCAL/kafka"
LIBS="$KAFKA_HOME/libs"
POM="$SCRIPT_DIR/pom.xml"
LOG4J2_CONF="$SCRIPT_DIR/log4j2.properties"

PG_START_TIMEOUT="${STACK_PG_START_TIMEOUT:-60}"
KAFKA_READY_TIMEOUT="${STACK_KAFKA_READY_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${STACK_KAFKA_STOP_TIMEOUT:-30}"
KAFKA_HEAP="${STACK_KAFKA_HEAP:--Xms256m -Xmx512m}"
# C1 only: on a 2-core machine the C2 compiler threads cost the broker as much CPU as serving
# requests for its first minutes (bench/RESULTS.md, 2026-12-02), and this local broker never
# runs long or hot enough to repay them. (The tools in kafka_java use C1 too, for their start-up.)
KAFKA_JIT="${STACK_KAFKA_JIT:--XX:TieredStopAtLevel=1}"

log() { printf '[stack %s] %s\n' "${INSTANCE:-}" "$*" >&2; }
die() { printf '[stack %s] ERROR: %s\n' "${INSTANCE:-}" "$*" >&2; exit 1; }

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
CMD="$1"
INSTANCE="$2"

case "$INSTANCE" in
  dev)  PG_PORT=25432; KAFKA_PORT=29092; CONTROLLER_PORT=29093 ;;
  test) PG_PORT=26432; KAFKA_PORT=29192; CONTROLLER_PORT=29193 ;;
  *) usage ;;
esac
# STACK_PORT_OFFSET shifts every port, so a second checkout can run its own instance beside
# this one (for example a fresh clone checking CI while a session's tests run).
offset="${STACK_PORT_OFFSET:-0}"
PG_PORT=$((PG_PORT + offset)); KAFKA_PORT=$((KAFKA_PORT + offset)); CONTROLLER_PORT=$((CONTROLLER_PORT + offset))

INST_DIR="$LOCAL/$INSTANCE"
LOG_DIR="$INST_DIR/logs"
RUN_DIR="$INST_DIR/run"
PG_DIR="$INST_DIR/pg"                 # owned by the postgres OS user
PG_DATA="$PG_DIR/data"
PG_SOCK_DIR="$PG_DIR/sock"
PG_LOG="$PG_DIR/postgres.log"         # written by the postmaster (postgres user)
KAFKA_DIR="$INST_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
KAFKA_PID_FILE="$RUN_DIR/kafka.pid"
KAFKA_OUT="$LOG_DIR/kafka.out"
KAFKA_SERVER_LOG="$LOG_DIR/kafka-server.log"

IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1

# --------------------------------------------------------------------------- helpers

tail_logs() {  # tail_logs file...
  local f
  for f in "$@"; do
    if [[ -s "$f" ]]; then
      printf -- '----- last lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2 || true
    fi
  done
}

pid_alive() {
  # Alive while any thread of the process still runs. A zombie (exited, not yet
  # reaped by init) counts as gone, but a multi-threaded JVM's main thread can be
  # a zombie while its other threads (holding the sockets) are still exiting.
  local t s
  kill -0 "$1" 2>/dev/null || return 1
  for t in /proc/"$1"/task/*/stat; do
    s="$(cat "$t" 2>/dev/null || true)"
    [[ -n "$s" ]] || continue
    s="${s##*) }"                     # drop "pid (comm) ", comm may hold spaces
    case "${s%% *}" in Z|X|x) ;; *) return 0 ;; esac
  done
  return 1
}

wait_port_free() {  # wait_port_free seconds port... -> 0 once nothing listens on them
  local n=$(( $1 * 10 )) i p busy
  shift
  for (( i = 0; i < n; i++ )); do
    busy=0
    for p in "$@"; do port_open "$p" && busy=1; done
    (( busy )) || return 0
    sleep 0.1
  done
  return 1
}

wait_pid_gone() {  # wait_pid_gone seconds pid...
  local n=$(( $1 * 10 )) i p alive
  shift
  for (( i = 0; i < n; i++ )); do
    alive=0
    for p in "$@"; do pid_alive "$p" && alive=1; done
    (( alive )) || return 0
    sleep 0.1
  done
  return 1
}

port_open() {  # port_open port -> 0 when something accepts TCP on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

lock_instance() {
  mkdir -p "$INST_DIR"
  exec 9>"$INST_DIR/.lock"
  flock -w 300 9 || die "another stack.sh is busy with instance '$INSTANCE' (lock $INST_DIR/.lock)"
}

# ------------------------------------------------------------------------- postgres

pg_bin_dir() {  # the bin dir matching an existing cluster, else the newest installed
  local want="" d
  [[ -f "$PG_DATA/PG_VERSION" ]] && want="$(cat "$PG_DATA/PG_VERSION")"
  if [[ -n "$want" ]]; then
    [[ -x "/usr/lib/postgresql/$want/bin/postgres" ]] && { echo "/usr/lib/postgresql/$want/bin"; return 0; }
    return 1
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [[ -x "$d/postgres" ]] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_postgres_installed() {
  if pg_bin_dir >/dev/null; then return 0; fi
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then
    local v; v="$(cat "$PG_DATA/PG_VERSION")"
    [[ $IS_ROOT -eq 1 ]] || die "cluster needs PostgreSQL $v binaries (/usr/lib/postgresql/$v/bin); install postgresql-$v"
    log "installing PostgreSQL $v server binaries (apt)"
    apt_install "postgresql-$v"
  else
    [[ $IS_ROOT -eq 1 ]] || die "PostgreSQL server binaries missing; run as root or: apt-get install postgresql"
    log "installing PostgreSQL server binaries (apt)"
    apt_install postgresql
  fi
  pg_bin_dir >/dev/null || die "PostgreSQL binaries still missing after apt-get install"
}

apt_install() {
  # Do not let the Debian package create (and try to start) its own 'main' cluster:
  # this runtime never uses a system service.
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
}

as_pg() {  # run a command as the postgres OS user (postgres refuses to run as root)
  if [[ $IS_ROOT -eq 1 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ensure_pg_reachable() {  # make sure the postgres user can traverse down to PG_DIR
  [[ $IS_ROOT -eq 1 ]] || return 0
  id postgres >/dev/null 2>&1 || die "OS user 'postgres' is missing (it comes with Debian's postgresql package)"
  if runuser -u postgres -- test -x "$PG_DIR" 2>/dev/null; then return 0; fi
  local d="$PG_DIR" dirs=()
  while [[ "$d" != "/" ]]; do dirs=("$d" "${dirs[@]}"); d="$(dirname "$d")"; done
  for d in "${dirs[@]}"; do
    [[ "$d" == "$PG_DIR" ]] && break
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      log "chmod o+x $d (so the postgres user can reach its data folder)"
      chmod o+x "$d"
    fi
  done
  runuser -u postgres -- test -x "$PG_DIR" || die "postgres user cannot reach $PG_DIR"
}

pg_sock_dir_effective() {
  # Unix socket paths are limited to 107 bytes; for deep checkouts use a short
  # symlink in /tmp that points into the instance folder.
  local sock_file_len=$(( ${#PG_SOCK_DIR} + ${#PG_PORT} + 10 ))   # "/.s.PGSQL." + port
  if (( sock_file_len < 100 )); then
    echo "$PG_SOCK_DIR"
    return 0
  fi
  local link
  link="/tmp/.opscenter-pg-$(printf '%s' "$PG_SOCK_DIR" | sha1sum | cut -c1-12)"
  if [[ "$(readlink "$link" 2>/dev/null || true)" != "$PG_SOCK_DIR" ]]; then
    rm -f "$link"
    ln -s "$PG_SOCK_DIR" "$link"
  fi
  echo "$link"
}

pg_initdb() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  local bin locale_opt=(--no-locale)
  bin="$(pg_bin_dir)"
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale_opt=(--locale=C.UTF-8); fi
  log "initdb $PG_DATA ($("$bin/postgres" --version))"
  rm -rf "$PG_DIR/data.init"
  mkdir -p "$PG_DIR/data.init"
  [[ $IS_ROOT -eq 1 ]] && chown postgres:postgres "$PG_DIR/data.init"
  chmod 700 "$PG_DIR/data.init"
  if ! as_pg "$bin/initdb" -D "$PG_DIR/data.init" -U postgres -E UTF8 "${locale_opt[@]}" \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
    tail_logs "$PG_DIR/initdb.log"
    die "initdb failed"
  fi
  cat >>"$PG_DIR/data.init/postgresql.conf" <<'EOF'

# ---- opscenter local runtime (deploy/local/stack.sh) ----
# Port, listen address and socket dir are written to stack.conf on every start.
include_if_exists = 'stack.conf'
max_connections = 200
# A throwaway dev/test cluster: durability against OS crashes is not needed
# (a killed postmaster still loses nothing: data is in the kernel page cache).
fsync = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  as_pg mv "$PG_DIR/data.init" "$PG_DATA"
}

pg_running() {
  local bin pid
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  pid="$(pg_postmaster_pid)"
  [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  bin="$(pg_bin_dir)" || return 1
  as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_postmaster_pid() {
  [[ -f "$PG_DATA/postmaster.pid" ]] && head -n 1 "$PG_DATA/postmaster.pid"
}

clear_stale_pg_locks() {
  # A SIGKILLed postmaster may linger as a zombie until init reaps it, and a
  # zombie still passes postgres' own kill(pid, 0) test on its lock files:
  # remove lock files whose owner is provably gone (dead or zombie, no children).
  local f pid
  for f in "$PG_DATA/postmaster.pid" "$PG_SOCK_DIR/.s.PGSQL.$PG_PORT.lock"; do
    [[ -f "$f" ]] || continue
    pid="$(head -n 1 "$f" 2>/dev/null || true)"
    pid="${pid#-}"
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if ! pid_alive "$pid" && [[ -z "$(pgrep -P "$pid" 2>/dev/null || true)" ]]; then
      rm -f "$f"
    fi
  done
}

start_postgres() {
  ensure_postgres_installed
  mkdir -p "$PG_DIR"
  [[ $IS_ROOT -eq 1 ]] && chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  ensure_pg_reachable
  pg_initdb
  local bin sock
  bin="$(pg_bin_dir)"
  if pg_running; then
    return 0
  fi
  clear_stale_pg_locks
  if ! wait_port_free 10 "$PG_PORT"; then
    die "port $PG_PORT is already in use by another process (another checkout's '$INSTANCE' instance?)"
  fi
  as_pg mkdir -p "$PG_SOCK_DIR"
  sock="$(pg_sock_dir_effective)"
  local sq="'" esc_sock
  esc_sock="${sock//$sq/$sq$sq}"
  as_pg tee "$PG_DATA/stack.conf" >/dev/null <<EOF
# written by deploy/local/stack.sh on every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$esc_sock'
EOF
  log "starting postgres on 127.0.0.1:$PG_PORT"
  # 9>&- : the postmaster must not inherit the instance lock.
  if ! as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" start >/dev/null 9>&-; then
    tail_logs "$PG_LOG"
    die "postgres did not start (log: $PG_LOG)"
  fi
}

wait_postgres() {
  local bin deadline
  bin="$(pg_bin_dir)"
  deadline=$(( SECONDS + PG_START_TIMEOUT ))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    if (( SECONDS >= deadline )); then
      tail_logs "$PG_LOG"
      die "postgres not ready on 127.0.0.1:$PG_PORT after ${PG_START_TIMEOUT}s"
    fi
    sleep 0.3
  done
}

provision_postgres() {
  local bin sock
  bin="$(pg_bin_dir)"
  sock="$(pg_sock_dir_effective)"
  # Superuser work over the unix socket (trust). template1 first, so that new
  # databases (including opscenter, tests' scratch DBs) come with pg_trgm.
  if ! as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$PG_PORT" -U postgres -d template1 \
       >"$PG_DIR/provision.log" 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
\connect postgres
SET client_min_messages = warning;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opscenter') THEN
    CREATE ROLE opscenter LOGIN CREATEDB PASSWORD 'opscenter';
  END IF;
END
$$;
SELECT 'CREATE DATABASE opscenter OWNER opscenter'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'opscenter') \gexec
\connect opscenter
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
  then
    tail_logs "$PG_DIR/provision.log" "$PG_LOG"
    die "provisioning role/database 'opscenter' failed"
  fi
}

stop_postgres() {
  if ! pg_running; then
    log "postgres already stopped"
    return 0
  fi
  local bin; bin="$(pg_bin_dir)"
  log "stopping postgres"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
}

kill_postgres() {
  local pid children
  pid="$(pg_postmaster_pid || true)"
  if [[ -z "$pid" ]] || ! pid_alive "$pid"; then
    log "postgres not running"
    return 0
  fi
  # Postmaster children are their own process-group leaders, so a group kill
  # would miss them: collect them by parent pid first, then SIGKILL all at once
  # (no orphaned backend may keep the shared memory segment attached).
  children="$(pgrep -P "$pid" | tr '\n' ' ' || true)"
  log "SIGKILL postgres (postmaster $pid, children: ${children:-none})"
  # shellcheck disable=SC2086
  kill -KILL "$pid" $children 2>/dev/null || true
  # shellcheck disable=SC2086
  wait_pid_gone 10 "$pid" $children || die "postgres processes survived SIGKILL"
}

# ---------------------------------------------------------------------------- kafka

pom_digest() { sha256sum <"$POM" | cut -d' ' -f1; }

ensure_java() {
  command -v java >/dev/null 2>&1 && return 0
  [[ $IS_ROOT -eq 1 ]] || die "java (17+) is missing"
  log "installing a Java runtime (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q openjdk-17-jre-headless >/dev/null
}

ensure_kafka_jars() {
  ensure_java
  local digest; digest="$(pom_digest)"
  if [[ -f "$LIBS/.pom.sha256" && "$(cat "$LIBS/.pom.sha256")" == "$digest" ]]; then
    return 0
  fi
  mkdir -p "$KAFKA_HOME"
  (
    exec 8>"$KAFKA_HOME/.lock"
    flock -w 600 8 || die "timed out waiting for another jar download ($KAFKA_HOME/.lock)"
    if [[ -f "$LIBS/.pom.sha256" && "$(cat "$LIBS/.pom.sha256")" == "$digest" ]]; then
      exit 0
    fi
    if ! command -v mvn >/dev/null 2>&1; then
      [[ $IS_ROOT -eq 1 ]] || die "maven (mvn) is missing"
      log "installing maven (apt)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q >/dev/null && apt-get install -y -q maven >/dev/null
    fi
    log "downloading Kafka jars with maven into $LIBS"
    rm -rf "$KAFKA_HOME/libs.new" "$KAFKA_HOME/target"
    if ! mvn -q -B -f "$POM" -Dkafka.libs.dir="$KAFKA_HOME/libs.new" package >"$KAFKA_HOME/mvn.log" 2>&1; then
      tail_logs "$KAFKA_HOME/mvn.log"
      die "maven could not fetch the Kafka jars"
    fi
    rm -rf "$KAFKA_HOME/target"
    ls "$KAFKA_HOME/libs.new"/kafka_2.13-*.jar >/dev/null 2>&1 || die "maven ran but kafka_2.13 jar is missing"
    echo "$digest" >"$KAFKA_HOME/libs.new/.pom.sha256"
    rm -rf "$KAFKA_HOME/libs.old"
    [[ -d "$LIBS" ]] && mv "$LIBS" "$KAFKA_HOME/libs.old"
    mv "$KAFKA_HOME/libs.new" "$LIBS"
    rm -rf "$KAFKA_HOME/libs.old"
  ) 8>&-
}

kafka_java() {  # run a Kafka class in the foreground (tools)
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$LOG4J2_CONF" -Dkafka.logs.dir="$LOG_DIR/tools" \
    -cp "$LIBS/*" "$@"
}

write_kafka_props() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
  cat >"$KAFKA_PROPS" <<EOF
# written by deploy/local/stack.sh on every start of the '$INSTANCE' broker
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=6
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted broker is refused (DUPLICATE_BROKER_REGISTRATION)
# until the old registration's session expires: keep that short (default 9 s).
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.segment.bytes=104857600
EOF
}

kafka_pid() {  # prints the pid of this instance's broker when it runs
  local pid
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  # Guard against pid reuse: it must be our java kafka.Kafka on our properties.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS" || return 1
  echo "$pid"
}

kafka_running() { kafka_pid >/dev/null; }

start_kafka() {
  ensure_kafka_jars
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$KAFKA_DIR"
  if kafka_running; then
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"
  if ! wait_port_free 10 "$KAFKA_PORT" "$CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $CONTROLLER_PORT is already in use by another process (another checkout's '$INSTANCE' instance?)"
  fi
  write_kafka_props
  if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
    kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_OUT" | tail -n 1 >"$KAFKA_CLUSTER_ID_FILE.tmp"
    [[ -s "$KAFKA_CLUSTER_ID_FILE.tmp" ]] || { tail_logs "$KAFKA_OUT"; die "could not generate a Kafka cluster id"; }
    mv "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
  fi
  if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
    log "formatting Kafka storage (cluster id $(cat "$KAFKA_CLUSTER_ID_FILE"))"
    if ! kafka_java kafka.tools.StorageTool format --ignore-formatted \
          -t "$(cat "$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" >>"$KAFKA_OUT" 2>&1; then
      tail_logs "$KAFKA_OUT"
      die "kafka storage format failed"
    fi
  fi
  log "starting kafka on 127.0.0.1:$KAFKA_PORT (controller $CONTROLLER_PORT)"
  printf '\n===== %s start =====\n' "$(date -Is)" >>"$KAFKA_OUT"
  # setsid: own session, survives the calling shell; the inner bash writes its
  # own pid and execs java, so the pid file holds the JVM's pid.
  # 9>&- : the broker must not inherit the instance lock.
  (
    cd "$KAFKA_DIR"
    # shellcheck disable=SC2086,SC2016
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
      java $KAFKA_HEAP $KAFKA_JIT -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true \
      -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$LOG4J2_CONF" \
      -cp "$LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
      </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  )
  local i
  for i in $(seq 1 50); do
    [[ -s "$KAFKA_PID_FILE" ]] && break
    sleep 0.1
  done
  [[ -s "$KAFKA_PID_FILE" ]] || die "kafka launcher did not write $KAFKA_PID_FILE"
}

# Readiness: a real client must get cluster metadata listing our broker.
# Prefers the project's venv (aiokafka, fast); falls back to Kafka's own admin tool.
KAFKA_READY_PY='
import asyncio, logging, os, sys, time
from aiokafka.client import AIOKafkaClient

logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # connection refused while booting

async def main(bootstrap, pid, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        states = []
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                try:
                    with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                        states.append(f.read().rsplit(")", 1)[1].split()[0])
                except OSError:
                    pass
        except OSError:
            pass
        if all(st in ("Z", "X", "x") for st in states):
            print("kafka process %d exited" % pid, file=sys.stderr)
            return 2
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                metadata_max_age_ms=1000)
        try:
            await client.bootstrap()
            if client.cluster.brokers():
                return 0
            last = "metadata lists no broker yet"
        except Exception as exc:  # not up yet
            last = repr(exc)
        finally:
            await client.close()
        if time.monotonic() >= deadline:
            print("kafka not ready: %s" % last, file=sys.stderr)
            return 1
        await asyncio.sleep(0.3)

sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))))
'

wait_kafka() {
  local pid py="$REPO/.venv/bin/python"
  pid="$(kafka_pid)" || { tail_logs "$KAFKA_SERVER_LOG" "$KAFKA_OUT"; die "kafka exited during startup (logs: $LOG_DIR)"; }
  if [[ -x "$py" ]] && "$py" -c 'import aiokafka' 2>/dev/null; then
    if ! "$py" -c "$KAFKA_READY_PY" "127.0.0.1:$KAFKA_PORT" "$pid" "$KAFKA_READY_TIMEOUT"; then
      tail_logs "$KAFKA_SERVER_LOG" "$KAFKA_OUT"
      die "kafka did not become ready on 127.0.0.1:$KAFKA_PORT within ${KAFKA_READY_TIMEOUT}s"
    fi
    return 0
  fi
  # Fallback without the venv: a JVM admin client (slower, ~1-2 s per try).
  local deadline=$(( SECONDS + KAFKA_READY_TIMEOUT ))
  until port_open "$KAFKA_PORT" && kafka_java org.apache.kafka.tools.ClusterTool cluster-id \
          --bootstrap-server "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1; do
    if ! pid_alive "$pid" || (( SECONDS >= deadline )); then
      tail_logs "$KAFKA_SERVER_LOG" "$KAFKA_OUT"
      die "kafka did not become ready on 127.0.0.1:$KAFKA_PORT within ${KAFKA_READY_TIMEOUT}s"
    fi
    sleep 0.5
  done
}


stop_kafka() {
  local pid
  if ! pid="$(kafka_pid)"; then
    log "kafka already stopped"
    rm -f "$KAFKA_PID_FILE"
    return 0
  fi
  log "stopping kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_pid_gone "$KAFKA_STOP_TIMEOUT" "$pid"; then
    log "kafka did not stop within ${KAFKA_STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone 10 "$pid" || die "could not stop kafka pid $pid"
  fi
  rm -f "$KAFKA_PID_FILE"
}

kill_kafka() {
  local pid
  if ! pid="$(kafka_pid)"; then
    log "kafka not running"
    rm -f "$KAFKA_PID_FILE"
    return 0
  fi
  log "SIGKILL kafka (pid $pid)"
  kill -KILL "$pid" 2>/dev/null || true
  wait_pid_gone 10 "$pid" || die "kafka pid $pid survived SIGKILL"
  rm -f "$KAFKA_PID_FILE"
}

# ------------------------------------------------------------------------- commands

print_env() {
  cat <<EOF
export OPSCENTER_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export OPSCENTER_DATABASE_URL=postgresql+asyncpg://opscenter:opscenter@127.0.0.1:$PG_PORT/opscenter
export OPSCENTER_PG_ADMIN_DSN=postgresql://opscenter:opscenter@127.0.0.1:$PG_PORT/postgres
export OPSCENTER_STACK_INSTANCE=$INSTANCE
EOF
}

print_status() {
  local rc=0 pid
  if pg_running; then
    echo "postgres ($INSTANCE): up    127.0.0.1:$PG_PORT pid $(pg_postmaster_pid) data $PG_DATA"
  else
    echo "postgres ($INSTANCE): down  (127.0.0.1:$PG_PORT, data $PG_DATA)"
    rc=3
  fi
  if pid="$(kafka_pid)"; then
    echo "kafka    ($INSTANCE): up    127.0.0.1:$KAFKA_PORT pid $pid logs $LOG_DIR"
  else
    echo "kafka    ($INSTANCE): down  (127.0.0.1:$KAFKA_PORT, data $KAFKA_DATA)"
    rc=3
  fi
  return $rc
}

# ------------------------------------------------------------------------- hooks sandbox

ensure_sandbox_runtime() {
  # The hooks service runs plugin handlers under bubblewrap, as Debian's python3 with its
  # libseccomp binding (python3-seccomp over libseccomp2); see ADR 0015. Worker slots
  # run as numeric uids from HOOKS_SANDBOX_UID_BASE (61000): no passwd entry is needed, only
  # that no account owns them, which is checked here.
  local missing=()
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
  /usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || missing+=(python3-seccomp libseccomp2)
  if (( ${#missing[@]} )); then
    if [[ $IS_ROOT -eq 1 ]]; then
      log "installing ${missing[*]} (apt, hooks sandbox)"
      apt_install "${missing[@]}"
    else  # only the hooks service needs them: the rest of the stack still starts
      log "WARNING: the hooks sandbox needs ${missing[*]}; run as root or: apt-get install ${missing[*]}"
    fi
  fi
  local base="${HOOKS_SANDBOX_UID_BASE:-61000}" count="${HOOKS_SANDBOX_UID_COUNT:-256}" taken
  taken="$(awk -F: -v lo="$base" -v hi="$((base + count))" '$3 >= lo && $3 < hi {print $1}' /etc/passwd)"
  [[ -z "$taken" ]] || die "sandbox uids $base..$((base + count - 1)) overlap accounts: $taken (set HOOKS_SANDBOX_UID_BASE)"
}

case "$CMD" in
  up)
    lock_instance
    ensure_sandbox_runtime
    start_kafka          # launches the JVM in the background; its boot overlaps with postgres
    start_postgres
    wait_postgres
    provision_postgres
    wait_kafka
    log "up: postgres 127.0.0.1:$PG_PORT, kafka 127.0.0.1:$KAFKA_PORT"
    ;;
  down)
    lock_instance
    stop_kafka
    stop_postgres
    ;;
  status)
    print_status || exit $?
    ;;
  env)
    print_env
    ;;
  start-kafka)
    lock_instance
    start_kafka
    wait_kafka
    ;;
  kill-kafka)
    lock_instance
    kill_kafka
    ;;
  start-postgres)
    lock_instance
    start_postgres
    wait_postgres
    provision_postgres
    ;;
  kill-postgres)
    lock_instance
    kill_postgres
    ;;
  *)
    usage
    ;;
esac
