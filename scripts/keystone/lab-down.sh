#!/bin/bash
# lab-down.sh BASE_DIR [--purge] — stops what lab-up.sh started: both Keystones by the pid in their
# pidfile (SIGKILL of master + workers, safe with SQLite in WAL mode; never by process name) and
# the broker with rabbitmqctl. --purge also deletes BASE_DIR and wipes RabbitMQ's state (queues,
# messages). The Debian packages stay installed.
set -uo pipefail
BASE=${1:?usage: lab-down.sh BASE_DIR [--purge]}
S=$(dirname "$(readlink -f "$0")")
PURGE=""; [ "${2:-}" = --purge ] && PURGE=--purge
rc=0
for n in a b; do
  if [ -d "$BASE/$n" ]; then FAST=1 "$S/stop-keystone.sh" "$BASE/$n" || rc=1; fi
done
if command -v rabbitmqctl >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmqctl ]; then
  "$S/stop-rabbitmq.sh" $PURGE || rc=1
fi
if [ -n "$PURGE" ]; then rm -rf "$BASE"; echo "deleted $BASE"; fi
exit $rc
