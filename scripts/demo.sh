#!/usr/bin/env bash
# Install everything and serve the seeded demo on http://127.0.0.1:8000 (SQLite, eager Celery).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements.txt

export DEBUG=1
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
echo "Serving Tandem on http://127.0.0.1:8000/ (log in as one of the users above)"
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
