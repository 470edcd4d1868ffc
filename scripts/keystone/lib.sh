# Sourced by the lab scripts (not executable on its own).
#
# ensure_packages PKG...  installs the missing Debian packages in one apt transaction.
#   * flock-serialised: lab-up.sh starts RabbitMQ and two Keystones in parallel, and each of them
#     checks its own packages; only one apt may run at a time.
#   * A temporary /usr/sbin/policy-rc.d (exit 101) is created when none exists, so the packages'
#     postinst cannot start Debian's own keystone (port 5000, /etc/keystone) or rabbitmq-server;
#     it is removed again afterwards, also when apt fails.
#   * `apt-get update` only when the lists do not know a candidate, or when an install from stale
#     lists fails (the mirror moved on): then once more after an update.
#   * --no-install-recommends: 199 packages instead of 258 (no GTK, gnome-keyring, ...).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

lab_is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_packages() {
  local p missing=()
  for p in "$@"; do lab_is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  (
    flock -w 900 9 || { echo "[lab] timed out waiting for the apt lock" >&2; exit 1; }
    local still=() q
    for q in "${missing[@]}"; do lab_is_installed "$q" || still+=("$q"); done
    [ ${#still[@]} -eq 0 ] && exit 0
    local made=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    echo "[lab] installing ${still[*]} (Debian packages, no recommends)" >&2
    if ! apt-cache policy "${still[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt-get update -qq; fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${still[@]}" >/tmp/keystone-lab-apt.log 2>&1; then
      echo "[lab] apt-get install failed; updating the package lists and trying once more" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${still[@]}" >/tmp/keystone-lab-apt.log 2>&1 \
        || { tail -n 20 /tmp/keystone-lab-apt.log >&2; exit 1; }
    fi
    [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d
    exit 0
  ) 9>/var/lock/keystone-lab-apt.lock
}
