#!/usr/bin/env bash
# Make sure the services the integration tests need are up: PostgreSQL and Redis
# on 127.0.0.1.  Starts whichever is down; fails loudly when it cannot.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

wait_for() {  # name, check function
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  echo "ERROR: $1 did not come up on 127.0.0.1" >&2
  exit 1
}

if ! pg_up; then
  echo "starting PostgreSQL" >&2
  command -v pg_ctlcluster >/dev/null || { echo "ERROR: PostgreSQL is not installed (pg_ctlcluster missing)" >&2; exit 1; }
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  wait_for PostgreSQL pg_up
fi

if ! redis_up; then
  echo "starting Redis" >&2
  command -v redis-server >/dev/null || { echo "ERROR: Redis is not installed (redis-server missing)" >&2; exit 1; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
fi
