#!/bin/bash
# bitlib tracker on loopback: HTTP announces with curl (compact and dictionary
# model), scrape, event=stopped, expiry (max(2 x interval, 900 s), or --peer-ttl), bad requests get a
# failure reason, a UDP (BEP 15) client in stdlib python3: connect, announce,
# scrape, stale connection id; JSON log lines; clean stop on SIGTERM.
set -euo pipefail
# (no "| grep -q" below: it exits at the first match, and under pipefail the writer's
# broken pipe then fails the pipeline -- the python helper printing a second peer did)
cd "$(dirname "$0")/../.."
BITLIB=${BITLIB:-build/bitlib}
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }

. tests/system/lib/cleanup.sh
cl_init
work=$(mktemp -d /tmp/t_tracker.XXXXXX)
cl_track_dir "$work"

fail() { echo "FAIL: $*"; echo "--- tracker log"; cat "$work/log" || true; exit 1; }

# A small bencode decoder and the UDP client, stdlib only.
cat > "$work/t.py" <<'PY'
import json, os, random, socket, struct, sys

def bdec(b, i=0):
    c = b[i:i+1]
    if c == b'i':
        j = b.index(b'e', i); return int(b[i+1:j]), j + 1
    if c == b'l':
        i += 1; out = []
        while b[i:i+1] != b'e':
            v, i = bdec(b, i); out.append(v)
        return out, i + 1
    if c == b'd':
        i += 1; out = {}
        while b[i:i+1] != b'e':
            k, i = bdec(b, i); v, i = bdec(b, i); out[k.decode('latin1')] = v
        return out, i + 1
    j = b.index(b':', i); n = int(b[i:j]); return b[j+1:j+1+n], j + 1 + n

def load(path):
    data = open(path, 'rb').read()
    v, end = bdec(data)
    assert end == len(data), "trailing bytes"
    return v

def compact(s):
    return [("%d.%d.%d.%d" % tuple(s[k:k+4]), struct.unpack(">H", s[k+4:k+6])[0])
            for k in range(0, len(s), 6)]

def udp(port, ih, pid, lport, event, left):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    addr = ("127.0.0.1", port)
    tx = random.getrandbits(32)
    s.sendto(struct.pack(">QII", 0x41727101980, 0, tx), addr)
    r = s.recv(2048); a, t, cid = struct.unpack(">IIQ", r[:16])
    assert a == 0 and t == tx, "connect reply %r" % r
    tx += 1
    ev = {"none": 0, "completed": 1, "started": 2, "stopped": 3}[event]
    s.sendto(struct.pack(">QII20s20sQQQIIIiH", cid, 1, tx, ih, pid, 0, left, 0, ev, 0, 7, -1, lport), addr)
    r = s.recv(2048); a, t, interval, leech, seed = struct.unpack(">IIIII", r[:20])
    assert a == 1 and t == tx, "announce reply %r" % r
    tx += 1
    s.sendto(struct.pack(">QII20s", cid, 2, tx, ih), addr)
    sr = s.recv(2048); a, t, sc, dl, lc = struct.unpack(">IIIII", sr)
    assert a == 2 and t == tx
    # A connection id we never handed out is refused with an error packet.
    s.sendto(struct.pack(">QII20s", cid ^ 1, 2, tx + 1, ih), addr)
    er = s.recv(2048); a, t = struct.unpack(">II", er[:8])
    assert a == 3 and t == tx + 1, "bad conn id not refused: %r" % er
    # Garbage shorter than a header gets no answer (no reflection).
    s.settimeout(0.5); s.sendto(b"\x00" * 5, addr)
    try:
        s.recv(2048); raise AssertionError("answered garbage")
    except socket.timeout:
        pass
    return {"interval": interval, "leechers": leech, "seeders": seed,
            "peers": compact(r[20:]), "scrape": [sc, dl, lc], "err": er[8:].decode()}

cmd = sys.argv[1]
if cmd == "get":            # get FILE KEY...: print a value
    v = load(sys.argv[2])
    for k in sys.argv[3:]:
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(v.decode('latin1') if isinstance(v, bytes) else v)
elif cmd == "peers":        # compact peers of a reply, as ip:port lines
    for ip, p in compact(load(sys.argv[2])["peers"]):
        print("%s:%d" % (ip, p))
elif cmd == "dictpeers":
    for d in load(sys.argv[2])["peers"]:
        print("%s:%d:%s" % (d["ip"].decode(), d["port"], d.get("peer id", b"-").decode('latin1')))
elif cmd == "scrape":       # scrape FILE HEXHASH: complete downloaded incomplete
    f = load(sys.argv[2])["files"][bytes.fromhex(sys.argv[3]).decode('latin1')]
    print(f["complete"], f["downloaded"], f["incomplete"])
elif cmd == "udp":
    port, ih, pid, lport, ev, left = sys.argv[2:8]
    print(json.dumps(udp(int(port), bytes.fromhex(ih), pid.encode(), int(lport), ev, int(left))))
PY
py() { python3 "$work/t.py" "$@"; }

# wait_port LOG: the port from the start line
wait_port() {
  local p=
  for _ in $(seq 100); do
    p=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$' || true)
    [[ -n $p ]] && break
    sleep 0.1
  done
  echo "$p"
}

# Peers live 60 s here so a loaded machine cannot expire them mid-test; a
# second tracker below checks the default expiry (2 x interval).
echo "== start tracker on 127.0.0.1:0 (interval 2 s, JSON log)"
"$BITLIB" tracker --listen 127.0.0.1:0 --interval 2 --peer-ttl 60 --json-log 2>"$work/log" &
trk_pid=$!
cl_track_pid $trk_pid
port=$(wait_port "$work/log")
[[ -n $port ]] || fail "no start line with a port"
head -1 "$work/log" | python3 -c 'import json,sys; json.loads(sys.stdin.readline())' || fail "start line is not JSON"
echo "   port $port"

IHHEX=00010203040506070809ff2526253d2b20800a0d
IH=$(echo "$IHHEX" | sed 's/../%&/g')
base="http://127.0.0.1:$port"
ann() { curl -sS --max-time 5 "$base/announce?info_hash=$IH&$1" -o "$2"; }

echo "== HTTP: seeder A, leecher B (compact=0), leecher C (compact)"
ann "peer_id=AAAAAAAAAAAAAAAAAAAA&port=1111&left=0&event=started" "$work/a"
[[ $(py get "$work/a" complete) == 1 ]] || fail "A: complete != 1"
[[ -z $(py peers "$work/a") ]] || fail "A got peers but is alone"
[[ $(py get "$work/a" interval) == 2 ]] || fail "interval not 2"
ann "peer_id=BBBBBBBBBBBBBBBBBBBB&port=2222&left=5&compact=0" "$work/b"
[[ $(py dictpeers "$work/b") == "127.0.0.1:1111:AAAAAAAAAAAAAAAAAAAA" ]] || fail "B dict peers: $(py dictpeers "$work/b")"
ann "peer_id=BBBBBBBBBBBBBBBBBBBB&port=2222&left=5&compact=0&no_peer_id=1" "$work/b2"
[[ $(py dictpeers "$work/b2") == "127.0.0.1:1111:-" ]] || fail "no_peer_id ignored"
ann "peer_id=CCCCCCCCCCCCCCCCCCCC&port=3333&left=5&numwant=10&ip=10.9.8.7" "$work/c"
[[ $(py peers "$work/c" | sort | tr '\n' ' ') == "127.0.0.1:1111 127.0.0.1:2222 " ]] || fail "C peers: $(py peers "$work/c")"
[[ $(py get "$work/c" incomplete) == 2 ]] || fail "C: incomplete != 2"
ann "peer_id=AAAAAAAAAAAAAAAAAAAA&port=1111&left=0&numwant=1" "$work/a2"
[[ $(py peers "$work/a2" | wc -l) == 1 ]] || fail "numwant=1 not honoured"
ann "peer_id=AAAAAAAAAAAAAAAAAAAA&port=1111&left=0" "$work/a3"
py peers "$work/a3" | grep -x "10.9.8.7:3333" >/dev/null || fail "literal ip= not used for C"

echo "== scrape, stopped"
curl -sS --max-time 5 "$base/scrape?info_hash=$IH" -o "$work/s1"
[[ $(py scrape "$work/s1" "$IHHEX") == "1 0 2" ]] || fail "scrape: $(py scrape "$work/s1" "$IHHEX")"
ann "peer_id=BBBBBBBBBBBBBBBBBBBB&port=2222&left=5&event=stopped" "$work/bs"
curl -sS --max-time 5 "$base/scrape?info_hash=$IH" -o "$work/s2"
[[ $(py scrape "$work/s2" "$IHHEX") == "1 0 1" ]] || fail "stopped peer still counted"

echo "== bad requests get a failure reason"
curl -sS --max-time 5 "$base/announce?peer_id=AAAAAAAAAAAAAAAAAAAA&port=1" -o "$work/e1"
[[ $(py get "$work/e1" "failure reason") == "missing info_hash" ]] || fail "missing info_hash"
curl -sS --max-time 5 "$base/announce?info_hash=%00%01&peer_id=AAAAAAAAAAAAAAAAAAAA&port=1" -o "$work/e2"
py get "$work/e2" "failure reason" | grep "20 bytes" >/dev/null || fail "short info_hash"
ann "peer_id=AAAAAAAAAAAAAAAAAAAA&port=99999" "$work/e3"
py get "$work/e3" "failure reason" | grep "port" >/dev/null || fail "bad port"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$base/announce?$(head -c 20000 /dev/zero | tr '\0' a)")
[[ $code == 414 || $code == 431 || $code == 400 ]] || fail "oversize request got HTTP $code"
grep -q '"event":"refused"' "$work/log" || fail "refusals not logged"

echo "== UDP: connect, announce, scrape, stale connection id"
out=$(py udp "$port" "$IHHEX" DDDDDDDDDDDDDDDDDDDD 4444 started 9) || fail "udp client: $out"
echo "   $out"
echo "$out" | grep -q '"127.0.0.1", 1111' || fail "UDP announce did not return HTTP seeder A"
echo "$out" | grep -q '"scrape": \[1, 0, 2\]' || fail "UDP scrape counts"
# ...and the HTTP side sees the UDP peer.
ann "peer_id=AAAAAAAAAAAAAAAAAAAA&port=1111&left=0" "$work/a4"
py peers "$work/a4" | grep -x "127.0.0.1:4444" >/dev/null || fail "HTTP does not see the UDP peer"

echo "== expiry: by default a peer outlives 2 x interval (some clients re-announce only every"
echo "   600 s whatever the interval): kept at least 900 s; --peer-ttl 2 forgets it after 2 s"
"$BITLIB" tracker --listen 127.0.0.1:0 --interval 1 2>"$work/log2" &
trk2_pid=$!
cl_track_pid $trk2_pid
"$BITLIB" tracker --listen 127.0.0.1:0 --interval 1 --peer-ttl 2 2>"$work/log2b" &
trk3_pid=$!
cl_track_pid $trk3_pid
port2=$(wait_port "$work/log2")
port2b=$(wait_port "$work/log2b")
[[ -n $port2 && -n $port2b ]] || fail "second or third tracker did not start"
grep -q "interval 1s, peers expire after 900s" "$work/log2" || fail "default expiry not 900 s: $(cat "$work/log2")"
for p in $port2 $port2b; do
  curl -sS --max-time 5 "http://127.0.0.1:$p/announce?info_hash=$IH&peer_id=EEEEEEEEEEEEEEEEEEEE&port=5555&left=1" -o "$work/x1"
  curl -sS --max-time 5 "http://127.0.0.1:$p/scrape?info_hash=$IH" -o "$work/s3"
  [[ $(py scrape "$work/s3" "$IHHEX") == "0 0 1" ]] || fail "tracker on $p: peer not recorded"
done
sleep 3.5
curl -sS --max-time 5 "http://127.0.0.1:$port2/scrape?info_hash=$IH" -o "$work/s4"
[[ $(py scrape "$work/s4" "$IHHEX") == "0 0 1" ]] || fail "peer expired after 2 x interval: $(py scrape "$work/s4" "$IHHEX")"
curl -sS --max-time 5 "http://127.0.0.1:$port2/announce?info_hash=$IH&peer_id=FFFFFFFFFFFFFFFFFFFF&port=6666&left=1" -o "$work/x2"
py peers "$work/x2" | grep -x "127.0.0.1:5555" >/dev/null || fail "a silent peer was not handed out after 2 x interval"
curl -sS --max-time 5 "http://127.0.0.1:$port2b/scrape?info_hash=$IH" -o "$work/s5"
[[ $(py scrape "$work/s5" "$IHHEX") == "0 0 0" ]] || fail "--peer-ttl 2: peer did not expire: $(py scrape "$work/s5" "$IHHEX")"
kill -TERM "$trk2_pid" "$trk3_pid"
wait "$trk2_pid" "$trk3_pid" 2>/dev/null || true
trk3_pid=

echo "== whitelist: only listed hashes; SIGHUP re-reads the file"
OTHER=ffeeddccbbaa99887766554433221100ffeeddcc
printf '# allowed\n%s\n' "$IHHEX" > "$work/wl"
"$BITLIB" tracker --listen 127.0.0.1:0 --whitelist "$work/wl" 2>"$work/log3" &
trk3_pid=$!
cl_track_pid $trk3_pid
port3=$(wait_port "$work/log3")
[[ -n $port3 ]] || fail "whitelist tracker did not start"
b3="http://127.0.0.1:$port3/announce?peer_id=WWWWWWWWWWWWWWWWWWWW&port=7777"
curl -sS --max-time 5 "$b3&info_hash=$IH" -o "$work/w1"
py get "$work/w1" interval >/dev/null || fail "whitelisted hash refused"
curl -sS --max-time 5 "$b3&info_hash=$(echo "$OTHER" | sed 's/../%&/g')" -o "$work/w2"
py get "$work/w2" "failure reason" | grep "not served" >/dev/null || fail "unlisted hash not refused"
echo "$OTHER" >> "$work/wl"
kill -HUP "$trk3_pid"
for _ in $(seq 50); do grep -q "2 info-hashes" "$work/log3" && break; sleep 0.1; done
curl -sS --max-time 5 "$b3&info_hash=$(echo "$OTHER" | sed 's/../%&/g')" -o "$work/w3"
py get "$work/w3" interval >/dev/null || fail "hash added to the whitelist still refused after SIGHUP"
echo "not a hash" >> "$work/wl"
kill -HUP "$trk3_pid"
for _ in $(seq 50); do grep -q "keeping the previous list" "$work/log3" && break; sleep 0.1; done
grep -q "line 4: not a 40-hex-digit" "$work/log3" || fail "bad whitelist line not reported"
curl -sS --max-time 5 "$b3&info_hash=$(echo "$OTHER" | sed 's/../%&/g')" -o "$work/w4"
py get "$work/w4" interval >/dev/null || fail "a bad reload dropped the old list"
kill -TERM "$trk3_pid"

echo "== SIGTERM stops it cleanly"
kill -TERM "$trk_pid"
for _ in $(seq 50); do kill -0 "$trk_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$trk_pid" 2>/dev/null; then fail "still running 5 s after SIGTERM"; fi
wait "$trk_pid" || fail "exit status $?"
trk_pid=
grep -q '"event":"stop"' "$work/log" || fail "no stop line"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/log" || fail "a log line is not JSON"
echo "PASS"
