#!/usr/bin/env bash
# Recreate an empty, migrated benchmark database next to $DATABASE_URL's: bench/newdb.sh NAME
set -euo pipefail
name=${1:?database name}
base=${DATABASE_URL%/*}
python - "$base" "$name" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1] + "/postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}"')
    conn.execute(f'CREATE DATABASE "{sys.argv[2]}"')
PY
DATABASE_URL="$base/$name" python manage.py migrate -v0
echo "$base/$name"
