#!/bin/bash
# start-rabbitmq.sh  — installs (if missing) and starts a loopback-only RabbitMQ for Keystone notifications.
# Idempotent. Waits until the broker has fully booted. Prints the AMQP URL.
# Env: NOTIF_TTL_MS (default 600000) and NOTIF_MAX_LEN (default 10000): a policy on the
# 'notifications.*' queues that oslo.messaging declares, so unconsumed notifications cannot pile up.
# VHOSTS="a b": also create these vhosts (guest gets full rights), e.g. one per simulated cloud.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
ts() { date +%s%N; }; T0=$(ts); ms() { echo $(( ($(ts) - $1) / 1000000 )); }
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
if ! lab_is_installed rabbitmq-server; then
  ensure_packages rabbitmq-server
  echo "[start-rabbitmq] installed in $(ms "$T0") ms" >&2
fi
if timeout 15 rabbitmqctl -q status >/dev/null 2>&1; then
  echo "[start-rabbitmq] already running" >&2
else
  t=$(ts)
  # loopback only: AMQP 5672, epmd 4369 and the Erlang distribution port 25672
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
    rabbitmq-server -detached
  ok=0
  for _ in $(seq 1 120); do
    if timeout 15 rabbitmqctl -q await_startup >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [ $ok = 1 ] || { echo "rabbitmq did not start; see /var/log/rabbitmq/" >&2; exit 1; }
  echo "[start-rabbitmq] broker up in $(ms "$t") ms" >&2
fi
for vh in / ${VHOSTS:-}; do
  if [ "$vh" != / ]; then
    rabbitmqctl -q list_vhosts | grep -qx "$vh" || rabbitmqctl -q add_vhost "$vh" >/dev/null
    rabbitmqctl -q set_permissions -p "$vh" guest '.*' '.*' '.*' >/dev/null
  fi
  rabbitmqctl -q set_policy -p "$vh" keystone-notifications '^notifications\.' \
    "{\"message-ttl\":${NOTIF_TTL_MS:-600000},\"max-length\":${NOTIF_MAX_LEN:-10000}}" --apply-to queues >/dev/null
done
echo "rabbitmq ready in $(ms "$T0") ms"
echo "AMQP_URL=amqp://guest:guest@127.0.0.1:5672/   (vhosts: / ${VHOSTS:-})"
echo "KEYSTONE_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/"
