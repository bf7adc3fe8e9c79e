#!/usr/bin/env bash
# Set up and run leadmail on embedded defaults: SQLite in ./leadmail-data, SMTP on
# 127.0.0.1:2525, three demo agents, alerts written to ./leadmail-data/alerts/*.eml, and the
# bundled samples/ sent through SMTP so you see each lead routed. Ctrl-C stops it.
# Pass --exit to stop once the samples are processed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[nlp]'
exec leadmail demo "$@"
