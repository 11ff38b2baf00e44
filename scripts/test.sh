#!/usr/bin/env bash
# Install what the suite needs (PostgreSQL, Redis, Chromium, Dovecot via apt when missing, the
# Python packages in .venv), start throwaway PostgreSQL and Redis on loopback, lint, check, and
# run the whole test suite against them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_pg || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing with apt: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements-dev.txt

state=$(mktemp -d /tmp/tandem-test.XXXXXX)
cleanup() { scripts/services.sh stop "$state" || true; rm -f "$state.env"; }
trap cleanup EXIT
scripts/services.sh start "$state" >"$state.env"
# shellcheck disable=SC1090
source "$state.env"
echo "PostgreSQL and Redis up: $DATABASE_URL $REDIS_URL"

export DJANGO_SETTINGS_MODULE=config.settings_test
.venv/bin/ruff check .
.venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/python -m pytest "$@"
