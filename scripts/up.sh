#!/usr/bin/env bash
# `make up`: run the Procfile's processes with honcho against the local PostgreSQL and Redis.
#
# The defaults below point at the services scripts/services.sh starts (database
# `trialalerts`, created when missing; Redis database 0, which also holds the pacer
# beside TRIALALERTS_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/ on RabbitMQ; the
# file outbox). A variable set in the environment or in ./.env wins: that is how to
# point the web app's base URL or the SES endpoint at real ones (see the README).
# Arguments name the process types to run, e.g. `scripts/up.sh web worker` (default:
# all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
LOCAL_DB="postgresql+psycopg://postgres@127.0.0.1:5432/trialalerts"

scripts/services.sh
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export PORT="${PORT:-8000}"  # honcho gives the first process type (web) this port
export TRIALALERTS_DATABASE_URL="${TRIALALERTS_DATABASE_URL:-$LOCAL_DB}"
export TRIALALERTS_BROKER_URL="${TRIALALERTS_BROKER_URL:-redis://127.0.0.1:6379/0}"
case "$TRIALALERTS_BROKER_URL" in  # RabbitMQ: the pacer, holds and slot claims stay in Redis
  amqp://* | amqps://*) export TRIALALERTS_REDIS_URL="${TRIALALERTS_REDIS_URL:-redis://127.0.0.1:6379/0}" ;;
esac
export TRIALALERTS_BASE_URL="${TRIALALERTS_BASE_URL:-http://localhost:$PORT}"

if [ "$TRIALALERTS_DATABASE_URL" = "$LOCAL_DB" ] &&
  ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'trialalerts'" | grep -q 1; then
  createdb -h 127.0.0.1 -U postgres trialalerts
fi
trialalerts db upgrade
exec honcho start "$@"
