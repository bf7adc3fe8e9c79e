#!/usr/bin/env bash
# dovecot-test-server.sh - throwaway Dovecot IMAP server for tests (no systemd, loopback only).
# leadmail's copy of the shared recipe, plus `resume` (restart a stopped instance, mail kept).
#
# Needs Debian's Dovecot:  apt-get update && apt-get install -y dovecot-imapd
# (apt does not start the system service where policy-rc.d forbids it; this script never
# touches /etc/dovecot or the system instance: everything lives in one mktemp -d folder.)
#
# Usage:
#   dovecot-test-server.sh start [PORT]     # PORT: number (default $DOVECOT_TEST_PORT, else 10143) or "auto"
#       ~0.05 s; prints KEY=VALUE lines (the port is IMAP_PORT):
#         IMAP_HOST=127.0.0.1
#         IMAP_PORT=10143
#         IMAP_USER=agent@example.test
#         IMAP_PASSWORD=secret
#         DOVECOT_TEST_DIR=/tmp/dovecot-test.XXXXXX   (config, passwd, dovecot.log, mail/<domain>/<user>)
#         DOVECOT_TEST_PID=1234                       (Dovecot master)
#       in bash:  set -a; eval "$(dovecot-test-server.sh start auto)"; set +a
#       in Python: dict(l.split("=", 1) for l in subprocess.run([script, "start", "auto"],
#                       check=True, capture_output=True, text=True).stdout.split())
#   dovecot-test-server.sh stop [DIR|PORT]  # SIGTERM to the master by PID (what `doveadm -c CONF stop`
#       sends), SIGKILL after 5 s, then delete DIR. DIR defaults to $DOVECOT_TEST_DIR; a PORT finds
#       the instance under ${TMPDIR:-/tmp} started on that port. Takes ~1.2 s.
#   dovecot-test-server.sh port [DIR]       # print the port of a running instance
#   dovecot-test-server.sh resume DIR       # start again an instance stopped with DOVECOT_TEST_KEEP=1:
#       same port, same accounts, same mail; prints the same KEY=VALUE lines as start.
#   Env: DOVECOT_TEST_USER, DOVECOT_TEST_PASSWORD; more users: DOVECOT_TEST_EXTRA_USERS="u1@d:p1 u2@d:p2";
#        DOVECOT_TEST_KEEP=1 makes stop keep DIR (to read dovecot.log / the maildirs).
# Plain IMAP, no TLS, AUTH=PLAIN/LOGIN allowed; IDLE works (Dovecot sends EXISTS ~0.5 s after
# another session's APPEND: its notify delay). Dovecot 2.3 setting names (Debian 12).
# Works as root (daemons as dovecot/dovenull, mail owned by nobody) and as an ordinary user.
set -euo pipefail

die() { echo "dovecot-test-server: $*" >&2; exit 1; }
tmproot="${TMPDIR:-/tmp}"

alive() {  # running and not a zombie
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

find_dir() {  # $1: DIR, PORT or empty
    local arg="${1:-${DOVECOT_TEST_DIR:-}}" d
    [ -n "$arg" ] || die "no instance given (pass DIR or PORT, or set DOVECOT_TEST_DIR)"
    if [[ "$arg" =~ ^[0-9]+$ ]]; then
        for d in "$tmproot"/dovecot-test.*; do
            [ -f "$d/port" ] && [ "$(cat "$d/port")" = "$arg" ] && { echo "$d"; return; }
        done
        die "no instance on port $arg under $tmproot"
    fi
    [ -f "$arg/dovecot.conf" ] || die "$arg is not an instance folder"
    echo "$arg"
}

cmd_start() {
    command -v dovecot >/dev/null || die "dovecot not installed (apt-get install -y dovecot-imapd)"
    local port="${1:-${DOVECOT_TEST_PORT:-10143}}"
    [ "$port" = auto ] && port="$(pick_free_port)"
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"

    local user="${DOVECOT_TEST_USER:-agent@example.test}" pass="${DOVECOT_TEST_PASSWORD:-secret}"
    if [ "$(id -u)" = 0 ]; then
        id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1 \
            || die "users dovecot/dovenull missing (they come with Debian's dovecot-core)"
    fi
    local dir; dir="$(mktemp -d "$tmproot/dovecot-test.XXXXXX")"
    local uid gid internal_user internal_group login_user anvil_chroot="" login_chroot=""
    if [ "$(id -u)" = 0 ]; then
        # As root: imap-login refuses to run as root ("This process must not be run as root") and
        # imap refuses userdb uid 0, so use the users Debian's dovecot-core creates for the
        # daemons and nobody:nogroup as the owner of the mail.
        internal_user=dovecot; internal_group=dovecot; login_user=dovenull
        uid="$(id -u nobody)"; gid="$(id -g nobody)"
    else
        # unprivileged: every Dovecot process, mail included, runs as the invoking user
        internal_user="$(id -un)"; internal_group="$(id -gn)"; login_user="$(id -un)"
        # chroot needs root
        anvil_chroot='chroot ='
        login_chroot='chroot ='
        uid="$(id -u)"; gid="$(id -g)"
    fi
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    chmod 755 "$dir"   # auth (runs as $internal_user) must reach the passwd file
    [ "$(id -u)" = 0 ] && chown "$uid:$gid" "$dir/mail"

    : > "$dir/passwd"
    local u p
    for up in "$user:$pass" ${DOVECOT_TEST_EXTRA_USERS:-}; do
        u="${up%%:*}"; p="${up#*:}"
        printf '%s:{PLAIN}%s::::::\n' "$u" "$p" >> "$dir/passwd"
    done
    chmod 644 "$dir/passwd"   # test-only passwords; auth runs as $internal_user

    cat > "$dir/dovecot.conf" <<EOF
# generated by dovecot-test-server.sh; self-contained (no !include of /etc/dovecot)
instance_name = dovecot-test-$(basename "$dir")
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# tests: answer a wrong password at once (default 2 s, growing to 15 s per IP via anvil's penalty)
auth_failure_delay = 0
default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
# mail (imap) processes run as uid $uid (the invoking user, or nobody when started as root)
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:$dir/mail/%d/%n
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/mail/%d/%n
}
service anvil {
  $anvil_chroot
  # no auth-penalty socket: auth then skips the per-IP penalty delay
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  $login_chroot
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
EOF
    echo "$port" > "$dir/port"

    if ! dovecot -c "$dir/dovecot.conf" 2> "$dir/start.err"; then
        cat "$dir/start.err" >&2; [ -f "$dir/dovecot.log" ] && tail -20 "$dir/dovecot.log" >&2
        rm -rf "$dir"; die "dovecot failed to start"
    fi
    wait_greeting "$dir" "$port" "$user" "$pass"
}

wait_greeting() {  # $1 DIR, $2 PORT, $3 USER, $4 PASSWORD: wait for "* OK", print KEY=VALUE lines
    local dir="$1" port="$2" user="$3" pass="$4"
    # wait (max ~10 s) for the IMAP greeting
    local line="" deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ]; do
        # in a subshell: a failed `exec 3<>/dev/tcp/...` ends a non-interactive bash
        line="$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && IFS= read -r -t 1 l <&3 && printf '%s' "$l") 2>/dev/null || true)"
        [[ "$line" == "* OK"* ]] && break
        sleep 0.1
    done
    if [[ "$line" != "* OK"* ]]; then
        tail -20 "$dir/dovecot.log" >&2 || true
        cmd_stop "$dir" >/dev/null 2>&1 || true
        die "dovecot did not greet on 127.0.0.1:$port"
    fi
    local pid; pid="$(cat "$dir/run/master.pid")"
    cat <<EOF
IMAP_HOST=127.0.0.1
IMAP_PORT=$port
IMAP_USER=$user
IMAP_PASSWORD=$pass
DOVECOT_TEST_DIR=$dir
DOVECOT_TEST_PID=$pid
EOF
}

instance_pids() {  # PIDs whose process title is this instance's: "dovecot-test-<dir name>/..."
    local name p title
    name="dovecot-test-$(basename "$1")/"
    for p in /proc/[0-9]*; do
        title="$(head -c "${#name}" "$p/cmdline" 2>/dev/null || true)"
        [ "$title" = "$name" ] && echo "${p#/proc/}"
    done
    return 0
}

cmd_resume() {
    local dir; dir="$(find_dir "${1:-}")"
    local port; port="$(cat "$dir/port")"
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
    local user="${DOVECOT_TEST_USER:-agent@example.test}" pass="${DOVECOT_TEST_PASSWORD:-secret}"
    if ! dovecot -c "$dir/dovecot.conf" 2> "$dir/start.err"; then
        cat "$dir/start.err" >&2; die "dovecot failed to start again"
    fi
    wait_greeting "$dir" "$port" "$user" "$pass"
}

cmd_stop() {
    local dir; dir="$(find_dir "${1:-}")"
    local pid=""
    [ -f "$dir/run/master.pid" ] && pid="$(cat "$dir/run/master.pid")"
    # only signal the PID if it is still this instance's master (not a reused PID)
    if [ -n "$pid" ] && ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/dovecot.conf"; then
        pid=""
    fi
    if [ -n "$pid" ] && alive "$pid"; then
        # SIGTERM to the master is what `doveadm -c CONF stop` sends; doveadm then waits until
        # the PID is gone, which takes ~3 s where PID 1 reaps orphans late (seen in sandboxes),
        # though the master has exited after ~1.2 s. So: signal, and count a zombie as stopped.
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    # Sessions the master left running (seen here: imap, log, stats) would keep serving their
    # connections; a stopped server must drop them, as shutdown_clients=yes promises.
    local leftover
    leftover="$(instance_pids "$dir")"
    if [ -n "$leftover" ]; then
        kill -TERM $leftover 2>/dev/null || true
        sleep 0.2
        leftover="$(instance_pids "$dir")"
        [ -n "$leftover" ] && kill -KILL $leftover 2>/dev/null || true
    fi
    if [ "${DOVECOT_TEST_KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    resume) shift; cmd_resume "$@" ;;
    port) shift; d="$(find_dir "${1:-}")"; cat "$d/port" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
