#!/usr/bin/env bash
# What the session's watchdog cannot end: a FUSE request that the filesystem's process has
# read and never answers. The kernel then waits for the answer even after SIGKILL, so the
# session's process, its connection and its slot in serve's -c stay until the filesystem
# answers or goes away (docs/security.md, "A home that never answers").
#
# As root, on a machine with fuse3 and python3-fusepy:
#   bash scripts/fuse_taken_request.sh [POPPIN] [classic|processes|inline] [MAX_REQUEST_TIMEOUT]
# It makes a local user with a password, mounts tests/security/hung_fs.py as that user over
# their ~/Maildir (nothing else waits on it, so the session's own first request is the one the
# filesystem takes), runs serve -c 1 with POPPIN_TIMEOUT=2, logs in, and after 25 s shows the
# stuck process (state D, SIGKILL pending: the watchdog fired) and that a second client gets no
# greeting. With MAX_REQUEST_TIMEOUT (seconds), fs.fuse.max_request_timeout is set for the
# mount (and put back after): the kernel cuts the filesystem off and the slot comes back.
set -euo pipefail
POPPIN=${1:-$(dirname "$0")/../dist/poppin}
MODE=${2:-processes}
FUSE_TIMEOUT=${3:-}
POPPIN=$(realpath "$POPPIN")
HERE=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 100; }
[ -c /dev/fuse ] && [ -x /usr/bin/fusermount3 ] && /usr/bin/python3 -c "import fusepy" || { echo "needs fuse3 and python3-fusepy" >&2; exit 100; }
chmod 0666 /dev/fuse

base=$(mktemp -d /tmp/fuse-taken.XXXXXX); chmod 755 "$base"
user=ft$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
useradd -M -d "$base/$user" -s /usr/sbin/nologin -U "$user"
echo "$user:Open.Sesame-42" | chpasswd -c YESCRYPT
mkdir -p "$base/$user/Maildir"/{cur,new,tmp}; chown -R "$user:$user" "$base/$user"
old_sysctl=""
if [ -n "$FUSE_TIMEOUT" ]; then old_sysctl=$(cat /proc/sys/fs/fuse/max_request_timeout); echo "$FUSE_TIMEOUT" > /proc/sys/fs/fuse/max_request_timeout; fi
fs_pid=""; serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$fs_pid" ] && kill -9 "$fs_pid" 2>/dev/null || true
  sleep 1; umount -l "$base/$user/Maildir" 2>/dev/null || true
  [ -n "$old_sysctl" ] && echo "$old_sysctl" > /proc/sys/fs/fuse/max_request_timeout
  userdel -f "$user" 2>/dev/null || true; rm -rf "$base"
}
trap cleanup EXIT
setpriv --reuid="$user" --regid="$user" --init-groups /usr/bin/python3 "$HERE/tests/security/hung_fs.py" "$base/$user/Maildir" > "$base/fs.log" 2>&1 &
fs_pid=$!
for _ in $(seq 50); do grep -q mounted "$base/fs.log" && break; sleep 0.1; done
flags=(); env_mode=(); [ "$MODE" = inline ] && flags=(--inline); [ "$MODE" = processes ] && env_mode=(POPPIN_ONE_PROCESS=0)
env "${env_mode[@]}" POPPIN_TIMEOUT=2 POPPIN_AUTH_FAILURE_DELAY=0 "$POPPIN" serve "${flags[@]}" -v -R -H -c 1 127.0.0.1 11110 \
  "$POPPIN" popup mail.example "$POPPIN" checkpassword "$POPPIN" pop3d Maildir > "$base/serve.log" 2>&1 &
serve_pid=$!
sleep 1
/usr/bin/python3 - "$user" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 11110))
s.sendall(f"USER {sys.argv[1]}\r\nPASS Open.Sesame-42\r\nSTAT\r\n".encode())
s.settimeout(60)
try:
    while (d := s.recv(4096)):
        print("first client got:", d)
    print("first client: connection closed by the server")
except socket.timeout:
    print("first client: no end within 60 s")
EOF
client=$!
sleep 25
echo "--- the filesystem said:"; cat "$base/fs.log"
echo "--- processes of $user:"
for p in $(pgrep -u "$user" || true); do
  echo "$p $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-80) state=$(awk '{print $3}' /proc/$p/stat) wchan=$(cat /proc/$p/wchan) $(grep ShdPnd /proc/$p/status)"
done
echo "--- a second client (the one -c slot):"
/usr/bin/python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 11110)); s.settimeout(5)
try: print("second client got:", s.recv(200))
except socket.timeout: print("second client: no greeting within 5 s (the slot is still taken)")'
echo "--- serve's log:"; cat "$base/serve.log"
wait "$client" || true
