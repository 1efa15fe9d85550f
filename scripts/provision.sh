#!/usr/bin/env bash
# What the test suite needs from the machine, installed and started where it is missing:
# Debian's chromium (browser tests), haproxy and dnsmasq (tests/test_proxy.py), make,
# libmagic (upload types), Kannel and its fakesmsc (tests of the SMS gateway),
# PostgreSQL and Redis (every test), with PostgreSQL trusting local TCP connections and
# both answering on their default ports. `make test` and `.ci/run` both run this; on a
# machine that already has everything it only checks, in well under a second.
#
# As root it installs with apt-get and starts the servers. As anyone else it changes
# nothing: it names what is missing and prints the one command that would set it up.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

say() { printf '[provision] %s\n' "$*"; }
fail() { printf '[provision] error: %s\n' "$*" >&2; exit 1; }

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379

# Plain TCP, so the checks need no client tools: PostgreSQL's answer to a startup packet
# is not needed to tell "nothing listens" from "something does"; Redis must say PONG.
probe() {
  python3 - "$@" <<'PY'
import socket, sys
host, port, *ping = sys.argv[1:]
try:
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        if ping:
            sock.sendall(b"PING\r\n")
            sys.exit(0 if sock.recv(7).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
pg_up() {
  if command -v pg_isready >/dev/null; then pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else probe "$PG_HOST" "$PG_PORT"; fi
}
redis_up() { probe "$REDIS_HOST" "$REDIS_PORT" ping; }

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v make >/dev/null || missing+=(make)
# A real SMS gateway (campaigns/tests/test_kannel.py): bearerbox and smsbox, and fakesmsc
# as its SMS centre.
{ [ -x /usr/sbin/bearerbox ] && [ -x /usr/sbin/smsbox ]; } || missing+=(kannel)
[ -x /usr/lib/kannel/test/fakesmsc ] || missing+=(kannel-extras)
# A real Prometheus scrapes /metrics and runs the Grafana dashboard's queries
# (tests/test_prometheus.py).
command -v prometheus >/dev/null || missing+=(prometheus)
# python-magic reads upload types through libmagic (chat/uploads.py).
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || missing+=(libmagic1)
# A server that answers is enough, wherever it comes from; otherwise Debian's.
pg_up || command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
redis_up || command -v redis-server >/dev/null || missing+=(redis-server)

# Kannel's boxes on an address whose route acknowledges at once (campaigns/tests/kannel.py,
# QUICK_BOX_HOST): without it their 40 ms delayed ACKs blur the SMS centre's clock.
quick_route() { command -v ip >/dev/null && ip route show table local 127.0.0.2 2>/dev/null | grep -q 'quickack 1'; }
# As root only, and never a reason to fail: without it the Kannel tests run on 127.0.0.1
# with a wider guard.
ensure_quick_route() {
  if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && ! quick_route; then
    ip route replace local 127.0.0.2 dev lo table local src 127.0.0.2 quickack 1 \
      && say "route 127.0.0.2 on lo acknowledges at once (Kannel's boxes)"
  fi
  return 0
}
command -v ip >/dev/null || missing+=(iproute2)

root_needed=()
[ ${#missing[@]} -gt 0 ] && root_needed+=("install: ${missing[*]}")
pg_up || root_needed+=("start PostgreSQL on $PG_HOST:$PG_PORT")
redis_up || root_needed+=("start Redis on $REDIS_HOST:$REDIS_PORT")
ensure_quick_route
[ ${#root_needed[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  for need in "${root_needed[@]}"; do say "missing: $need"; done
  say "run this once, then try again:"
  say "  sudo bash $(pwd)/scripts/provision.sh"
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "no apt-get here; install by hand: ${missing[*]}"
  say "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! pg_up; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || fail "PostgreSQL is installed but has no cluster in /etc/postgresql"
  say "starting PostgreSQL $version"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, as on the development machines.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 30); do pg_up && break; sleep 1; done
  pg_up || fail "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
fi

if ! redis_up; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/provision.log
  for _ in $(seq 30); do redis_up && break; sleep 0.5; done
  redis_up || fail "Redis does not answer on $REDIS_HOST:$REDIS_PORT"
fi
ensure_quick_route
say "ready"
