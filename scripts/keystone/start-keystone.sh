#!/bin/bash
# start-keystone.sh NAME PORT REGION PROVIDER DATA_DIR
#
# Installs (if missing), configures, initialises and starts one real OpenStack Keystone (Debian
# bookworm package, 2:22.0.2 "Zed") on 127.0.0.1:PORT, served by uWSGI without systemd/apache.
# Idempotent: an instance that is already up is left alone; an initialised DATA_DIR is reused.
#
#   NAME      label for the instance (used in messages and in DATA_DIR/instance.env)
#   PORT      TCP port on 127.0.0.1 (e.g. 5000)
#   REGION    region id registered by bootstrap (e.g. RegionOne)
#   PROVIDER  fernet | jws
#   DATA_DIR  directory for config, sqlite DB, keys, logs, pidfile (created if absent)
#
# Environment knobs (all optional):
#   ADMIN_PASSWORD   bootstrap admin password                  (default: admin-secret)
#   SERVICE_USER     service user created with role "service"  (default: alliance; empty = skip)
#   SERVICE_PASSWORD its password                               (default: alliance-secret)
#   SERVICE_ADMIN    1 | 0  also grant the service user "admin" on the system, which remote
#                    provisioning of kind "project" needs (default: 1)
#   PROCESSES        uWSGI worker processes                     (default: 2; 1 when CACHE=1)
#   THREADS          threads per worker                         (default: 4; 8 when CACHE=1)
#   NOTIFY           none | basic | cadf  (oslo.messaging notifications to RabbitMQ; default none)
#   TRANSPORT_URL    default rabbit://guest:guest@127.0.0.1:5672/ (end it in /VHOST to give each cloud its own
#                    vhost, as lab-up.sh does: all instances otherwise share exchange "keystone")
#   NOTIFY_OPT_OUT   "keystone-default" (authenticate events off) or "" (everything on); default keystone-default
#   NOTIFY_RETRY     oslo.messaging send retries (default 0 = drop the notification if the broker is down;
#                    oslo's own default -1 makes API writes hang until the broker is back)
#   CACHE            0 | 1   dogpile memory cache in the (single) worker process: ~4-6x cheaper token
#                    validation; refused with PROCESSES > 1 (per-process caches go stale). Default 0.
#   TOKEN_EXPIRATION seconds (default 3600)
#   PASSWORD_HASH_ROUNDS bcrypt cost for passwords hashed from now on (default 4 = fast tests;
#                    keystone's own default is 12, ~0.25 s per password authentication)
#   START_TIMEOUT    seconds to wait for health (default 60)
#
# Prints the URLs/credentials and writes DATA_DIR/instance.env (KEY=VALUE) and DATA_DIR/openrc.
set -euo pipefail

if [ $# -ne 5 ]; then
  sed -n '2,35p' "$0" >&2; exit 2
fi
NAME=$1; PORT=$2; REGION=$3; PROVIDER=$4; DATA_DIR=$5
case "$PROVIDER" in fernet|jws) ;; *) echo "PROVIDER must be fernet or jws" >&2; exit 2;; esac
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-secret}
SERVICE_USER=${SERVICE_USER-alliance}
SERVICE_PASSWORD=${SERVICE_PASSWORD:-alliance-secret}
SERVICE_ADMIN=${SERVICE_ADMIN:-1}
CACHE=${CACHE:-0}
if [ "$CACHE" = 1 ]; then PROCESSES=${PROCESSES:-1}; THREADS=${THREADS:-8}; else PROCESSES=${PROCESSES:-2}; THREADS=${THREADS:-4}; fi
NOTIFY=${NOTIFY:-none}; TRANSPORT_URL=${TRANSPORT_URL:-rabbit://guest:guest@127.0.0.1:5672/}
NOTIFY_OPT_OUT=${NOTIFY_OPT_OUT-keystone-default}; NOTIFY_RETRY=${NOTIFY_RETRY:-0}
PASSWORD_HASH_ROUNDS=${PASSWORD_HASH_ROUNDS:-4}; TOKEN_EXPIRATION=${TOKEN_EXPIRATION:-3600}; START_TIMEOUT=${START_TIMEOUT:-60}
HOST=127.0.0.1
if [ "$CACHE" = 1 ] && [ "$PROCESSES" != 1 ] && [ "${CACHE_UNSAFE:-0}" != 1 ]; then
  # each worker process has its own memory cache and only invalidates its own: measured stale
  # 200s after role removal / project or domain disable. Single process + threads is faithful.
  echo "CACHE=1 needs PROCESSES=1 (per-process caches go stale); set CACHE_UNSAFE=1 to force" >&2; exit 2
fi
URL="http://$HOST:$PORT"
# Debian's python (the keystone modules live in /usr/lib/python3/dist-packages); a pyenv python3
# earlier in PATH would not see them.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

ts() { date +%s%N; }
T_START=$(ts)
ms_since() { echo $(( ($(ts) - $1) / 1000000 )); }
log() { echo "[start-keystone $NAME] $*" >&2; }

# ---------------------------------------------------------------- 1. packages
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
install_packages() {
  lab_is_installed keystone && lab_is_installed python3-openstackclient && lab_is_installed curl && return 0
  local t0; t0=$(ts)
  ensure_packages keystone python3-openstackclient curl
  log "packages installed in $(ms_since "$t0") ms"
}

# ---------------------------------------------------------------- 2. config
write_config() {
  mkdir -p "$DATA_DIR/log"
  local d; d=$(cd "$DATA_DIR" && pwd)
  DATA_DIR=$d
  {
    echo "[DEFAULT]"
    echo "log_dir = $d/log"
    echo "log_file = keystone.log"
    echo "debug = false"
    if [ "$NOTIFY" != none ]; then
      echo "transport_url = $TRANSPORT_URL"
      echo "notification_format = $NOTIFY"
      echo "# publisher_id becomes identity.<this>; default is the host name, the same for every instance"
      echo "default_publisher_id = $NAME"
      [ "$NOTIFY_OPT_OUT" != keystone-default ] && echo "notification_opt_out = $NOTIFY_OPT_OUT"
      echo "[oslo_messaging_notifications]"
      echo "driver = messagingv2"
      echo "topics = notifications"
      echo "# oslo default is retry = -1: with the broker down every API write that notifies hangs forever"
      echo "retry = $NOTIFY_RETRY"
    fi
    echo "[database]"
    echo "connection = sqlite:///$d/keystone.db"
    echo "[identity]"
    echo "# bcrypt cost: keystone default 12 (~0.25 s CPU per password auth); 4 for fast tests"
    echo "password_hash_rounds = $PASSWORD_HASH_ROUNDS"
    echo "[token]"
    echo "provider = $PROVIDER"
    echo "expiration = $TOKEN_EXPIRATION"
    echo "[fernet_tokens]"
    echo "key_repository = $d/fernet-keys"
    echo "[fernet_receipts]"
    echo "# must exist even with provider = jws, or every keystone process exits at start"
    echo "key_repository = $d/fernet-keys"
    echo "[credential]"
    echo "key_repository = $d/credential-keys"
    echo "[jwt_tokens]"
    echo "jws_private_key_repository = $d/jws-keys/private"
    echo "jws_public_key_repository = $d/jws-keys/public"
    if [ "$CACHE" = 1 ]; then
      echo "[cache]"
      echo "enabled = true"
      echo "backend = dogpile.cache.memory"
    fi
  } > "$d/keystone.conf.new"
  mv "$d/keystone.conf.new" "$d/keystone.conf"
}

km() { keystone-manage --config-file "$DATA_DIR/keystone.conf" "$@" 2> >(grep -vE "^(Exception ignored|Traceback|  File|    |AttributeError: 'NoneType' object has no attribute 'getcurrent')" >&2); }

ensure_jws_keys() {
  # The jws provider refuses to load (every keystone process, keystone-manage bootstrap included,
  # exits) unless jws-keys/private/private.pem and >= 1 public key exist.
  if [ "$PROVIDER" = jws ] && [ ! -f "$DATA_DIR/jws-keys/private/private.pem" ]; then
    # create_jws_keypair writes private.pem/public.pem into the *current directory*.
    mkdir -p "$DATA_DIR/jws-keys/private" "$DATA_DIR/jws-keys/public"
    (cd "$DATA_DIR/jws-keys" && km create_jws_keypair --keystone-user root --keystone-group root --force)
    mv "$DATA_DIR/jws-keys/private.pem" "$DATA_DIR/jws-keys/private/private.pem"
    mv "$DATA_DIR/jws-keys/public.pem" "$DATA_DIR/jws-keys/public/$NAME.pem"
    chmod 600 "$DATA_DIR/jws-keys/private/private.pem"   # keystone writes it 0644
  fi
}

initialise() {
  local marker="$DATA_DIR/.bootstrapped"
  if [ -f "$marker" ]; then
    if [ "$(cat "$marker")" != "$PORT $REGION" ]; then
      echo "$DATA_DIR was bootstrapped for '$(cat "$marker")', not '$PORT $REGION': delete it first" >&2; exit 1
    fi
  else
    local t0; t0=$(ts)
    rm -f "$DATA_DIR"/keystone.db* "$DATA_DIR/.service-user"
    km db_sync
    # WAL: otherwise idle reader connections of other workers/threads keep SHARED locks and every
    # write (token revoke, user disable, ...) fails after 5 s with "database is locked".
    # (Debian's python3 comes with keystone; the sqlite3 CLI may not be installed)
    /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); m=c.execute("PRAGMA journal_mode=WAL").fetchone()[0]; sys.exit(m != "wal")' "$DATA_DIR/keystone.db"
    # fernet keys are needed for receipts even when PROVIDER=jws; must exist before bootstrap.
    km fernet_setup --keystone-user root --keystone-group root
    km credential_setup --keystone-user root --keystone-group root
    ensure_jws_keys
    km bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
      --bootstrap-admin-url "$URL/v3/" --bootstrap-internal-url "$URL/v3/" \
      --bootstrap-public-url "$URL/v3/" --bootstrap-region-id "$REGION"
    echo "$PORT $REGION" > "$marker"
    log "db_sync + keys + bootstrap in $(ms_since "$t0") ms"
  fi
  ensure_jws_keys   # e.g. an instance switched from fernet to jws
}

# ---------------------------------------------------------------- 3. run
PIDFILE=""
is_up() { curl -sf --max-time 2 -o /dev/null "$URL/v3"; }
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  local st; st=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st:0:1}" != Z ] && echo "$pid"   # a zombie (not yet reaped by PID 1) is dead
}

start_server() {
  PIDFILE="$DATA_DIR/uwsgi.pid"
  if pid=$(running_pid) && is_up; then
    log "already running (pid $pid)"; return 0
  fi
  if pid=$(running_pid); then
    echo "uwsgi pid $pid from $PIDFILE is alive but $URL does not answer; stop it first" >&2; exit 1
  fi
  rm -f "$PIDFILE"
  if (exec 3<>/dev/tcp/$HOST/$PORT) 2>/dev/null; then
    echo "port $PORT is already in use by another process" >&2; exit 1
  fi
  local t0; t0=$(ts)
  : > "$DATA_DIR/log/uwsgi.log"
  # --http + --http-keepalive: uWSGI's (event-driven) HTTP router process in front of the workers.
  #   Plain --http-socket closes every connection and python-requests (the openstack CLI) then gets
  #   "connection reset by peer"; --http11-socket keeps connections alive but pins each one to a
  #   worker thread, so more idle keep-alive clients than PROCESSES x THREADS stall others for 4 s.
  # --die-on-term: without it uWSGI 2.0 *reloads* on SIGTERM.
  # --lazy-apps: each worker loads keystone itself (no sqlite connection shared across fork).
  # --skip-atexit*: otherwise workers segfault in greenlet teardown at shutdown (harmless but noisy).
  uwsgi --plugin python3,http --http "$HOST:$PORT" --http-keepalive \
    --wsgi-file /usr/bin/keystone-wsgi-public --env "OS_KEYSTONE_CONFIG_DIR=$DATA_DIR" \
    --master --processes "$PROCESSES" --threads "$THREADS" --enable-threads --lazy-apps \
    --die-on-term --skip-atexit --skip-atexit-teardown --buffer-size 65535 --listen 128 \
    --procname-prefix "keystone-$NAME-" \
    --pidfile "$PIDFILE" --daemonize "$DATA_DIR/log/uwsgi.log" </dev/null
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  while ! is_up; do
    if grep -qE 'DAMN ! worker|no python application found|unable to load app' "$DATA_DIR/log/uwsgi.log" 2>/dev/null \
       || [ "$(date +%s)" -ge "$deadline" ]; then
      echo "keystone $NAME failed to start; last log lines:" >&2
      tail -n 15 "$DATA_DIR/log/uwsgi.log" >&2; tail -n 5 "$DATA_DIR/log/keystone.log" >&2 2>/dev/null || true
      # a worker crash-loop does not stop the master: kill master + workers outright
      if pid=$(running_pid); then kill -KILL "$pid" $(ps -o pid= --ppid "$pid") 2>/dev/null || true; fi
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 0.1
  done
  log "uwsgi up in $(ms_since "$t0") ms (pid $(cat "$PIDFILE"), $PROCESSES process(es) x $THREADS threads)"
}

# ---------------------------------------------------------------- 4. check + service user
api() { # METHOD PATH TOKEN [BODY] -> body on stdout, fails on HTTP >= 400
  curl -sf --max-time 20 -X "$1" -H 'Content-Type: application/json' -H "X-Auth-Token: $3" \
    ${4:+-d "$4"} "$URL/v3$2"
}
get_token() { # user password [project] -> token
  local scope=""
  [ -n "${3:-}" ] && scope=",\"scope\":{\"project\":{\"name\":\"$3\",\"domain\":{\"id\":\"default\"}}}"
  curl -sf --max-time 20 -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"id\":\"default\"},\"password\":\"$2\"}}}$scope}}" \
    "$URL/v3/auth/tokens" | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r'
}
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

post_start() {
  local t0; t0=$(ts)
  local adm; adm=$(get_token admin "$ADMIN_PASSWORD" admin)
  [ -n "$adm" ] || { echo "admin password auth failed on $URL" >&2; exit 1; }
  if [ -n "$SERVICE_USER" ] && [ ! -f "$DATA_DIR/.service-user" ]; then
    local role proj user
    role=$(api GET "/roles?name=service" "$adm" | jget 'd["roles"][0]["id"] if d["roles"] else ""')
    [ -n "$role" ] || role=$(api POST /roles "$adm" '{"role":{"name":"service"}}' | jget 'd["role"]["id"]')
    proj=$(api GET "/projects?name=service&domain_id=default" "$adm" | jget 'd["projects"][0]["id"] if d["projects"] else ""')
    [ -n "$proj" ] || proj=$(api POST /projects "$adm" '{"project":{"name":"service","domain_id":"default"}}' | jget 'd["project"]["id"]')
    user=$(api GET "/users?name=$SERVICE_USER&domain_id=default" "$adm" | jget 'd["users"][0]["id"] if d["users"] else ""')
    [ -n "$user" ] || user=$(api POST /users "$adm" "{\"user\":{\"name\":\"$SERVICE_USER\",\"domain_id\":\"default\",\"password\":\"$SERVICE_PASSWORD\"}}" | jget 'd["user"]["id"]')
    api PUT "/projects/$proj/users/$user/roles/$role" "$adm" >/dev/null
    # "service" on project service: validate tokens, GET /v3/OS-REVOKE/events, /v3/auth/catalog.
    # "reader" on the system: GET /v3/projects|users|domains|endpoints (system-scoped token needed).
    local reader; reader=$(api GET "/roles?name=reader" "$adm" | jget 'd["roles"][0]["id"]')
    api PUT "/system/users/$user/roles/$reader" "$adm" >/dev/null
    echo "$user" > "$DATA_DIR/.service-user"
  fi
  if [ -n "$SERVICE_USER" ] && [ "$SERVICE_ADMIN" = 1 ]; then
    # "admin" on the system: remote provisioning of kind "project" (POST /v3/projects, /v3/domains,
    # /v3/users, PUT role assignments, DELETE /v3/projects). Outside the block above, so a data
    # directory made before this grant existed gets it too (PUT is idempotent).
    local svc admin_role; svc=$(cat "$DATA_DIR/.service-user")
    admin_role=$(api GET "/roles?name=admin" "$adm" | jget 'd["roles"][0]["id"]')
    api PUT "/system/users/$svc/roles/$admin_role" "$adm" >/dev/null
  fi
  # smoke test: validate the admin token
  curl -sf --max-time 20 -o /dev/null -H "X-Auth-Token: $adm" -H "X-Subject-Token: $adm" "$URL/v3/auth/tokens" \
    || { echo "token validation failed on $URL" >&2; exit 1; }
  log "token issue+validate smoke test (and service user) in $(ms_since "$t0") ms"
}

write_env() {
  local pub=""; [ "$PROVIDER" = jws ] && pub=$(ls "$DATA_DIR"/jws-keys/public/*.pem | head -1)
  cat > "$DATA_DIR/instance.env" <<EOF
KEYSTONE_NAME=$NAME
KEYSTONE_URL=$URL/v3
KEYSTONE_REGION=$REGION
KEYSTONE_PROVIDER=$PROVIDER
KEYSTONE_ADMIN_USER=admin
KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD
KEYSTONE_ADMIN_PROJECT=admin
KEYSTONE_SERVICE_USER=$SERVICE_USER
KEYSTONE_SERVICE_PASSWORD=$SERVICE_PASSWORD
KEYSTONE_SERVICE_PROJECT=service
KEYSTONE_JWS_PUBLIC_KEY=$pub
KEYSTONE_JWS_PUBLIC_KEY_DIR=$DATA_DIR/jws-keys/public
KEYSTONE_PIDFILE=$DATA_DIR/uwsgi.pid
KEYSTONE_CONF=$DATA_DIR/keystone.conf
KEYSTONE_NOTIFY=$NOTIFY
EOF
  cat > "$DATA_DIR/openrc" <<EOF
export OS_AUTH_URL=$URL/v3 OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION
export OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASSWORD OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default
EOF
}

install_packages
write_config
initialise
start_server
post_start
write_env
echo "keystone $NAME ready in $(ms_since "$T_START") ms"
cat "$DATA_DIR/instance.env"
