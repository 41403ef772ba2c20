#!/usr/bin/env bash
# Make sure the services the integration tests need are up: PostgreSQL, Redis and
# RabbitMQ on 127.0.0.1.  Starts whichever is down; fails loudly when it cannot.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
amqp_port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

wait_for() {  # name, check function, seconds
  for _ in $(seq 1 $((${3:-30} * 2))); do "$2" && return 0; sleep 0.5; done
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

if ! amqp_port_open; then
  echo "starting RabbitMQ" >&2
  command -v rabbitmq-server >/dev/null || { echo "ERROR: RabbitMQ is not installed (rabbitmq-server missing)" >&2; exit 1; }
  rabbitmq-server -detached
  # The AMQP port opens late in the boot; await_startup then waits for the rest of it.
  wait_for "RabbitMQ (port 5672)" amqp_port_open 120
  rabbitmqctl -q await_startup --timeout 60 || { echo "ERROR: RabbitMQ did not finish starting (rabbitmqctl await_startup)" >&2; exit 1; }
fi
