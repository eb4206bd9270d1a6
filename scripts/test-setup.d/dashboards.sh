#!/usr/bin/env bash
# Apache Superset in its own virtual environment (dashboards/.venv) with a ready metadata
# database (dashboards/.superset): what `dashboards/superset_dashboards.py` and
# tests/test_dashboards.py need. Idempotent; a quick no-op once done (stamp file).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=dashboards
VENV=$DIR/.venv
PYTHON=${PYTHON:-python3}
export SUPERSET_HOME=${SUPERSET_HOME:-$PWD/$DIR/.superset}
export SUPERSET_CONFIG_PATH=$PWD/$DIR/superset_config.py
export FLASK_APP=superset
STAMP=$SUPERSET_HOME/.ready
WANT=$(cat $DIR/requirements.txt $DIR/superset_config.py | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/superset" ]; then
    exit 0
fi
echo "dashboards: installing Apache Superset into $VENV (once, ~3 min)"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r $DIR/requirements.txt
mkdir -p "$SUPERSET_HOME"
"$VENV/bin/superset" db upgrade >"$SUPERSET_HOME/setup.log" 2>&1
"$VENV/bin/superset" fab create-admin --username "${SUPERSET_ADMIN_USER:-admin}" \
    --firstname tokenledger --lastname admin --email admin@localhost \
    --password "${SUPERSET_ADMIN_PASSWORD:-admin}" >>"$SUPERSET_HOME/setup.log" 2>&1
"$VENV/bin/superset" init >>"$SUPERSET_HOME/setup.log" 2>&1
echo "$WANT" >"$STAMP"
echo "dashboards: Superset ready ($VENV, metadata in $SUPERSET_HOME)"
