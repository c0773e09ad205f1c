#!/usr/bin/env bash
# netlab self-test: 3 nodes at 50 Mbit/s; reachability, the rate limit in both directions,
# byte counters, link cut/heal, and a teardown that leaves nothing behind.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"

PY=/usr/bin/python3
RATE=50
if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
for tool in ip tc nsenter perl ss "$PY"; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

. "$HERE/lib/cleanup.sh"
cl_init
TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_netlab.XXXXXX")
cl_track_dir "$TMP"

fail() { echo "FAIL: $*"; exit 1; }

# A receiver that accepts NCONN connections, drains them, and writes "bytes first last".
cat >"$TMP/recv.py" <<'EOF'
import socket, sys, threading, time
ip, port, nconn, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((ip, port)); srv.listen(8); srv.settimeout(20)
stats = {"bytes": 0, "first": None, "last": None}; lock = threading.Lock()
def drain(c):
    c.settimeout(20)
    while True:
        b = c.recv(1 << 16)
        now = time.time()
        if not b: break
        with lock:
            stats["bytes"] += len(b); stats["last"] = now
            if stats["first"] is None: stats["first"] = now
threads = []
for _ in range(nconn):
    c, _ = srv.accept(); t = threading.Thread(target=drain, args=(c,)); t.start(); threads.append(t)
for t in threads: t.join()
open(out, "w").write("%d %.6f %.6f\n" % (stats["bytes"], stats["first"], stats["last"]))
EOF
cat >"$TMP/send.py" <<'EOF'
import socket, sys
ip, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((ip, port), timeout=20)
chunk = bytes(1 << 16); sent = 0
while sent < total:
    s.sendall(chunk[:min(len(chunk), total - sent)]); sent += min(len(chunk), total - sent)
s.close()
EOF

# Wait (bounded) for PIDs to exit.  They were spawned from $(...) subshells, so they are not
# this shell's children: poll instead of wait.  Success is judged by the receivers' output.
wait_pids() {
    local deadline=$(( SECONDS + 30 )) p
    for p in "$@"; do
        while kill -0 "$p" 2>/dev/null; do
            (( SECONDS < deadline )) || fail "process $p still running after 30 s"
            sleep 0.05
        done
    done
}

# Mbit/s over the union of the receivers' intervals: files hold "bytes first last".
rate_of() {
    local f
    for f in "$@"; do [[ -s "$f" ]] || fail "receiver wrote no result to $f: $(cat "${f%.out}.log")"; done
    cat "$@" | awk '{ b += $1; if (f == "" || $2 < f) f = $2; if ($3 > l) l = $3 }
                    END { printf "%.1f\n", b * 8 / (l - f) / 1e6 }'
}

# check_rate LABEL MEASURED: at most 110% of the configured rate (the limiter works), and at
# least 10% (the rate is set in the right unit).  A tighter lower bound measured the machine,
# not netlab: a busy 2-core CI machine got 19 Mbit/s out of a 50 Mbit/s link from Python.
check_rate() {
    echo "  $1: ${2} Mbit/s (limit $RATE)"
    awk -v m="$2" -v r="$RATE" 'BEGIN { exit !(m <= 1.10 * r && m >= 0.10 * r) }' \
        || fail "$1: $2 Mbit/s is not within 10%..110% of $RATE Mbit/s"
}

echo "== netlab_up 3 $RATE"
netlab_up 3 "$RATE"
PREFIX=$NETLAB_PREFIX
for i in 0 1 2; do echo "  node $i: $(netlab_ns $i) $(netlab_ip $i)"; done
[[ $(netlab_ip 2) == "$NETLAB_NET.3" ]] || fail "netlab_ip 2 = $(netlab_ip 2)"
if netlab_ip 3 2>/dev/null; then fail "netlab_ip accepted a node that does not exist"; fi
ip -o link | grep -q -- "$PREFIX" && fail "interfaces created in the host namespace"
echo "  host namespace untouched"

echo "== reachability between every pair"
reach() {   # reach FROM TO
    if command -v ping >/dev/null; then
        netlab_exec "$1" ping -c 1 -W 2 "$(netlab_ip "$2")" >/dev/null
    else
        netlab_exec "$1" "$PY" -c 'import socket,sys
s=socket.socket(); s.settimeout(2)
try: s.connect((sys.argv[1], 9))
except ConnectionRefusedError: pass' "$(netlab_ip "$2")"
    fi
}
for a in 0 1 2; do for b in 0 1 2; do
    [[ $a == "$b" ]] && continue
    reach "$a" "$b" || fail "node $a cannot reach node $b"
done; done
echo "  all 6 directed pairs reach each other ($(command -v ping >/dev/null && echo ping || echo 'TCP connect, no ping installed'))"

BYTES=$(( 5 * 1024 * 1024 ))
echo "== one flow 0 -> 1 ($BYTES bytes)"
tx0=$(netlab_tx_bytes 0); rx1=$(netlab_rx_bytes 1)
r=$(netlab_spawn 1 "$TMP/r1.log" "$PY" "$TMP/recv.py" "$(netlab_ip 1)" 5001 1 "$TMP/r1.out")
netlab_wait_listen 1 5001 10
s=$(netlab_spawn 0 "$TMP/s0.log" "$PY" "$TMP/send.py" "$(netlab_ip 1)" 5001 "$BYTES")
wait_pids "$s" "$r"
check_rate "single flow" "$(rate_of "$TMP/r1.out")"
dtx=$(( $(netlab_tx_bytes 0) - tx0 )); drx=$(( $(netlab_rx_bytes 1) - rx1 ))
echo "  counters: node 0 sent $dtx bytes, node 1 received $drx bytes (payload $BYTES)"
(( dtx >= BYTES && dtx < BYTES * 12 / 10 )) || fail "node 0 tx counter moved by $dtx"
(( drx >= BYTES && drx < BYTES * 12 / 10 )) || fail "node 1 rx counter moved by $drx"

echo "== node 0 uploads to 1 and 2 at once (its upload limit)"
r1=$(netlab_spawn 1 "$TMP/r1b.log" "$PY" "$TMP/recv.py" "$(netlab_ip 1)" 5002 1 "$TMP/r1b.out")
r2=$(netlab_spawn 2 "$TMP/r2b.log" "$PY" "$TMP/recv.py" "$(netlab_ip 2)" 5002 1 "$TMP/r2b.out")
netlab_wait_listen 1 5002 10; netlab_wait_listen 2 5002 10
s1=$(netlab_spawn 0 "$TMP/s1b.log" "$PY" "$TMP/send.py" "$(netlab_ip 1)" 5002 "$BYTES")
s2=$(netlab_spawn 0 "$TMP/s2b.log" "$PY" "$TMP/send.py" "$(netlab_ip 2)" 5002 "$BYTES")
wait_pids "$s1" "$s2" "$r1" "$r2"
check_rate "upload of node 0, two flows" "$(rate_of "$TMP/r1b.out" "$TMP/r2b.out")"

echo "== nodes 0 and 2 send to 1 at once (its download limit)"
r=$(netlab_spawn 1 "$TMP/r1c.log" "$PY" "$TMP/recv.py" "$(netlab_ip 1)" 5003 2 "$TMP/r1c.out")
netlab_wait_listen 1 5003 10
s1=$(netlab_spawn 0 "$TMP/s0c.log" "$PY" "$TMP/send.py" "$(netlab_ip 1)" 5003 "$BYTES")
s2=$(netlab_spawn 2 "$TMP/s2c.log" "$PY" "$TMP/send.py" "$(netlab_ip 1)" 5003 "$BYTES")
wait_pids "$s1" "$s2" "$r"
check_rate "download of node 1, two flows" "$(rate_of "$TMP/r1c.out")"

echo "== netlab_cut / netlab_heal"
netlab_cut 2
if reach 0 2 2>/dev/null; then fail "node 2 reachable while its link is cut"; fi
netlab_heal 2
ok=0
for _ in $(seq 1 40); do reach 0 2 2>/dev/null && { ok=1; break; }; sleep 0.1; done
(( ok )) || fail "node 2 unreachable after heal"
echo "  cut isolates node 2, heal restores it"

echo "== a child script can use the cluster but not tear it down"
bash -c '. "$1"; netlab_exec 1 true && netlab_down' _ "$HERE/lib/netlab.sh" 2>/dev/null \
    || fail "child script could not run a command in node 1"
[[ -e /run/netns/$(netlab_ns 0) ]] || fail "a child's netlab_down removed the parent's cluster"
reach 1 2 || fail "cluster broken after a child's netlab_down"
echo "  ok"

echo "== teardown leaves nothing"
# Long-lived processes: one spawned from a subshell (PID tracked through the state file),
# one with a child of its own (killed through its process group).
p1=$(netlab_spawn 2 "$TMP/sleep1.log" sleep 1000)
netlab_spawn 1 "$TMP/sleep2.log" sh -c 'sleep 1000 & sleep 1000; wait' >/dev/null
p2=$NETLAB_LAST_PID
sleep 0.2
kids=$(pgrep -g "$p2" | tr '\n' ' ' || true)
state_dir=$NETLAB_DIR
netlab_down
netlab_down   # idempotent
for p in $p1 $p2 $kids; do
    if [[ -e /proc/$p ]] && ! grep -q '^[^)]*) [ZX]' "/proc/$p/stat" 2>/dev/null; then
        fail "process $p survived netlab_down"
    fi
done
compgen -G "/run/netns/$PREFIX-*" >/dev/null && fail "namespaces with prefix $PREFIX remain"
ip -o link | grep -q -- "$PREFIX" && fail "links with prefix $PREFIX remain"
[[ -e "$state_dir" ]] && fail "state directory $state_dir remains"
echo "  no namespace, link, process or state file with prefix $PREFIX remains"
echo "PASS"
