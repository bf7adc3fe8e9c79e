#!/usr/bin/env bash
# Set up and run leadmail's whole test suite on a fresh clone:
#   a virtualenv with the package and its test extras, a reachable PostgreSQL (started if it is
#   installed but down), Debian's Dovecot for the IMAP tests and Debian's Chromium for the web
#   app's browser tests (installed if missing).
# A required server that cannot be had makes this fail; tests never skip for want of one.
# Extra arguments go to pytest, e.g. tools/test.sh -k smtp -x
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
die() { printf 'tools/test.sh: %s\n' "$*" >&2; exit 1; }

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
say "installing leadmail and its test dependencies"
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# PostgreSQL at $LEADMAIL_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test).
export LEADMAIL_TEST_PG=${LEADMAIL_TEST_PG:-postgresql://postgres@127.0.0.1:5432/test}
pg_up() { python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$LEADMAIL_TEST_PG" 2>/dev/null; }
if ! pg_up; then
    say "PostgreSQL not reachable; trying to start it"
    if ! command -v pg_ctlcluster >/dev/null; then
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
            || die "cannot install PostgreSQL"
    fi
    for v in $(ls /etc/postgresql 2>/dev/null); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
    done
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    pg_up || die "PostgreSQL is required at $LEADMAIL_TEST_PG and could not be started"
fi

# Dovecot for the IMAP intake tests (they run a throwaway instance on loopback).
if ! command -v dovecot >/dev/null; then
    say "installing Dovecot (dovecot-imapd) for the IMAP tests"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null \
        || die "cannot install dovecot-imapd"
fi
# openssl makes the throwaway certificate of the SMTP STARTTLS tests.
if ! command -v openssl >/dev/null; then
    say "installing openssl for the STARTTLS tests"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null \
        || die "cannot install openssl"
fi
# swaks is the second real SMTP client of the intake security tests (long lines).
if ! command -v swaks >/dev/null; then
    say "installing swaks for the SMTP intake tests"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swaks >/dev/null \
        || die "cannot install swaks"
fi

# Chromium for the web app's browser tests (Playwright drives Debian's build: no download of
# Playwright's own browsers). LEADMAIL_CHROMIUM may point at another binary.
CHROMIUM=${LEADMAIL_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    say "installing Chromium for the browser tests"
    as_root apt-get update -qq || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || die "cannot install chromium"
    [ -x "$CHROMIUM" ] || die "chromium is not at $CHROMIUM after installing it"
fi

say "lint"
ruff check leadmail tests
mypy leadmail
say "tests"
# One worker per core (LEADMAIL_TEST_WORKERS overrides; 0 runs in this process), each taking
# whole files, so a file's module-scoped fixtures (the browser, a shared daemon) stay in one.
exec python -m pytest -p no:cacheprovider -n "${LEADMAIL_TEST_WORKERS:-auto}" --dist loadfile "$@"
