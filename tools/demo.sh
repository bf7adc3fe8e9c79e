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
# Install once (again when pyproject.toml changes); pip's and the build's chatter goes to
# .venv/pip.log, shown only if the install fails.
stamp=.venv/.leadmail-demo-installed
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! python -c 'import leadmail' 2>/dev/null; then
    echo "leadmail demo: installing leadmail into .venv (the first time takes a minute)"
    if ! { python -m pip install -q --disable-pip-version-check --upgrade pip &&
           python -m pip install -q --disable-pip-version-check -e '.[nlp]'; } >.venv/pip.log 2>&1; then
        cat .venv/pip.log >&2
        echo "tools/demo.sh: installing failed (log above, also in .venv/pip.log)" >&2
        exit 1
    fi
    touch "$stamp"
fi
exec leadmail demo "$@"
