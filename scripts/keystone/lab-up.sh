#!/bin/bash
# lab-up.sh BASE_DIR — the two-cloud Keystone lab the e2e tests run against:
#   RabbitMQ (127.0.0.1:5672, vhosts "a" and "b")
#   keystone "a": http://127.0.0.1:5000, region RegionOne, fernet tokens, notifications to vhost a
#   keystone "b": http://127.0.0.1:5001, region RegionTwo, jws tokens,    notifications to vhost b
# Installs the Debian packages in one apt transaction if missing (keystone, python3-openstackclient,
# rabbitmq-server, curl), then starts the three in parallel. Idempotent: a running lab is left
# alone, an initialised BASE_DIR is reused. Writes BASE_DIR/{a,b}/instance.env (KEY=VALUE, see
# start-keystone.sh) and BASE_DIR/lab.env (the AMQP URLs). Stop with lab-down.sh BASE_DIR [--purge].
# Env is passed through to start-keystone.sh (ADMIN_PASSWORD, NOTIFY, PROCESSES, ...).
# Project copy of the verified recipe (shared/keystone/README.md explains every gotcha handled here).
set -euo pipefail
BASE=${1:?usage: lab-up.sh BASE_DIR}
S=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$S/lib.sh"
T0=$(date +%s%N); ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
mkdir -p "$BASE"; BASE=$(cd "$BASE" && pwd)
PKGS="keystone python3-openstackclient rabbitmq-server curl"
missing=""
for p in $PKGS; do lab_is_installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  ensure_packages $missing
  echo "[lab-up] installed:$missing in $(ms "$T0") ms"
fi
export NOTIFY=${NOTIFY:-cadf}
# One vhost per cloud, as if each cloud had its own broker (otherwise both publish to the same
# exchange "keystone" / routing key "notifications.info" and only publisher_id tells them apart).
# Notifications sent before the vhost exists (bootstrap, service user) are dropped: NOTIFY_RETRY=0.
VHOSTS="a b" "$S/start-rabbitmq.sh" > "$BASE/rabbitmq.out" 2>&1 & r=$!
TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/a \
  "$S/start-keystone.sh" a 5000 RegionOne fernet "$BASE/a" > "$BASE/a.out" 2>&1 & a=$!
TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/b \
  "$S/start-keystone.sh" b 5001 RegionTwo jws "$BASE/b" > "$BASE/b.out" 2>&1 & b=$!
rc=0
wait $r || { rc=1; echo "rabbitmq failed:"; cat "$BASE/rabbitmq.out"; }
wait $a || { rc=1; echo "keystone a failed:"; cat "$BASE/a.out"; }
wait $b || { rc=1; echo "keystone b failed:"; cat "$BASE/b.out"; }
[ $rc = 0 ] || exit 1
cat > "$BASE/lab.env" <<ENV
LAB_AMQP_URL_A=amqp://guest:guest@127.0.0.1:5672/a
LAB_AMQP_URL_B=amqp://guest:guest@127.0.0.1:5672/b
LAB_AMQP_EXCHANGE=keystone
LAB_INSTANCE_ENV_A=$BASE/a/instance.env
LAB_INSTANCE_ENV_B=$BASE/b/instance.env
ENV
grep -hE '^\[|ready in' "$BASE/rabbitmq.out" "$BASE/a.out" "$BASE/b.out" | sed 's/^/  /'
echo "[lab-up] all up in $(ms "$T0") ms: http://127.0.0.1:5000/v3 (a), http://127.0.0.1:5001/v3 (b)"
echo "[lab-up] notifications: amqp://guest:guest@127.0.0.1:5672/a and .../b, exchange keystone, routing key notifications.info"
echo "[lab-up] instance details: $BASE/a/instance.env $BASE/b/instance.env $BASE/lab.env"
