#!/bin/bash
# bitlib's tracker client (through `bitlib tracker probe`) against opentracker
# and against `bitlib tracker`, over HTTP and UDP on loopback: a seeder
# announces, a second peer learns it, a third fails over from a dead tier to
# a live one and sends event=stopped; a refused info-hash fails cleanly.
set -euo pipefail
cd "$(dirname "$0")/../.."
BITLIB=${BITLIB:-build/bitlib}
command -v opentracker >/dev/null || { echo "opentracker not installed"; exit 77; }

. tests/system/lib/cleanup.sh
cl_init
work=$(mktemp -d /tmp/t_tracker_client.XXXXXX)
cl_track_dir "$work"
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }

free_port() {
  python3 -c 'import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()'
}
wait_http() {  # URL: until it answers anything
  for _ in $(seq 50); do curl -s --max-time 1 -o /dev/null "$1" && return 0; sleep 0.1; done
  return 1
}

IH=0123456789abcdef0123456789abcdef01234567
OTHER=fedcba9876543210fedcba9876543210fedcba98
dead=$(free_port)
probe() { timeout 30 "$BITLIB" tracker probe --info-hash "$@"; }

check_tracker() {  # NAME HTTP_URL UDP_URL
  local name=$1 http=$2 udp=$3
  echo "== $name: seeder over HTTP"
  probe "$IH" --port 1111 --left 0 --keep "$http" >"$work/p1.out" 2>>"$work/probe.log" || fail "$name: HTTP probe failed"
  echo "== $name: second peer over UDP sees the seeder"
  probe "$IH" --port 2222 --keep "$udp" >"$work/p2.out" 2>>"$work/probe.log" || fail "$name: UDP probe failed"
  grep -qx "127.0.0.1:1111" "$work/p2.out" || fail "$name: UDP peer did not get 1111: $(cat "$work/p2.out")"
  echo "== $name: third peer fails over from a dead tier, then stops"
  probe "$IH" --port 3333 --stop --timeout 20 "udp://127.0.0.1:$dead" "http://127.0.0.1:$dead/announce" "$http" \
    >"$work/p3.out" 2>>"$work/probe.log" || fail "$name: failover probe failed"
  grep -qx "127.0.0.1:1111" "$work/p3.out" || fail "$name: failover peer did not get 1111"
  grep -qx "127.0.0.1:2222" "$work/p3.out" || fail "$name: failover peer did not get 2222"
  echo "== $name: the stopped peer is gone for the next one"
  probe "$IH" --port 4444 --keep "$udp" >"$work/p4.out" 2>>"$work/probe.log" || fail "$name: probe 4 failed"
  if grep -qx "127.0.0.1:3333" "$work/p4.out"; then fail "$name: stopped peer 3333 still listed"; fi
  grep -qx "127.0.0.1:1111" "$work/p4.out" || fail "$name: probe 4 lost the seeder"
}

echo "== start opentracker (whitelist: one hash)"
ot=$(free_port)
mkdir -p "$work/ot"
echo "$IH" > "$work/ot/whitelist"
chmod 755 "$work" "$work/ot"; chmod 644 "$work/ot/whitelist"
opentracker -i 127.0.0.1 -p "$ot" -P "$ot" -d "$work/ot" -u nobody -w whitelist >"$work/opentracker.log" 2>&1 &
cl_track_pid $!
wait_http "http://127.0.0.1:$ot/stats" || fail "opentracker did not come up"
check_tracker opentracker "http://127.0.0.1:$ot/announce" "udp://127.0.0.1:$ot"
echo "== opentracker: a hash off its whitelist is refused, and the client says why"
if probe "$OTHER" --port 5555 --timeout 3 "http://127.0.0.1:$ot/announce" >/dev/null 2>"$work/refused.log"; then
  fail "announce for a non-whitelisted hash succeeded"
fi
grep -q "refused" "$work/refused.log" || fail "no refusal reason logged: $(cat "$work/refused.log")"

echo "== start bitlib tracker"
"$BITLIB" tracker --listen 127.0.0.1:0 2>"$work/bitlib-tracker.log" &
cl_track_pid $!
bt=
for _ in $(seq 50); do
  bt=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/bitlib-tracker.log" | head -1 | grep -o '[0-9]*$' || true)
  [[ -n $bt ]] && break; sleep 0.1
done
[[ -n $bt ]] || fail "bitlib tracker did not start"
check_tracker "bitlib tracker" "http://127.0.0.1:$bt/announce" "udp://127.0.0.1:$bt/announce"
echo "PASS"
