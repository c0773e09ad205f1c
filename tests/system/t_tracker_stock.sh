#!/bin/bash
# Stock clients use `bitlib tracker` to find each other on loopback: two
# aria2c transfer a 2 MiB file announced over HTTP; two libtorrent sessions
# (python3-libtorrent) transfer it announced over UDP (aria2 1.36 has no UDP
# tracker support without DHT).  The leecher's copy must match, and the
# tracker's scrape must have counted the completed download.
set -euo pipefail
cd "$(dirname "$0")/../.."
BITLIB=${BITLIB:-build/bitlib}
for t in aria2c mktorrent curl /usr/bin/python3; do
  command -v "$t" >/dev/null || { echo "$t not installed"; exit 77; }
done

. tests/system/lib/cleanup.sh
cl_init
work=$(mktemp -d /tmp/t_tracker_stock.XXXXXX)
cl_track_dir "$work"
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -30 "$f"; done; exit 1; }

echo "== start bitlib tracker (interval 2 s, peers kept 60 s)"
"$BITLIB" tracker --listen 127.0.0.1:0 --interval 2 --peer-ttl 60 --verbose 2>"$work/tracker.log" &
cl_track_pid $!
port=
for _ in $(seq 50); do
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/tracker.log" | head -1 | grep -o '[0-9]*$' || true)
  [[ -n $port ]] && break; sleep 0.1
done
[[ -n $port ]] || fail "tracker did not start"

/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || { echo "python3-libtorrent not installed"; exit 77; }
mkdir -p "$work/seed"
head -c $((2 * 1024 * 1024 + 12345)) /dev/urandom > "$work/seed/blob.bin"

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# aria2c runs directly (not through a shell function) so $! is its own PID.
ARIA=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
      --disable-ipv6=true --bt-tracker-connect-timeout=5 --bt-tracker-timeout=5
      --summary-interval=0 --console-log-level=warn --file-allocation=none)

make_torrent() {  # SCHEME URL PIECE_LOG2: sets ih (piece sizes differ so info-hashes do)
  local scheme=$1 url=$2
  echo "== $scheme: mktorrent -a $url"
  mktorrent -l "$3" -a "$url" -o "$work/$scheme.torrent" "$work/seed/blob.bin" >/dev/null
  ih=$(/usr/bin/python3 -c 'import libtorrent as lt, sys
print(lt.torrent_info(sys.argv[1]).info_hash())' "$work/$scheme.torrent")
}

check_copy_and_scrape() {  # SCHEME
  local scheme=$1 esc
  cmp "$work/seed/blob.bin" "$work/leech-$scheme/blob.bin" || fail "$scheme: copy differs"
  echo "   $scheme: leecher has a correct copy"
  esc=$(echo "$ih" | sed 's/../%&/g')
  for _ in $(seq 30); do
    curl -sS --max-time 5 "http://127.0.0.1:$port/scrape?info_hash=$esc" -o "$work/scrape-$scheme"
    grep -aq "10:downloadedi1e" "$work/scrape-$scheme" && break
    sleep 0.2
  done
  grep -aq "10:downloadedi1e" "$work/scrape-$scheme" || fail "$scheme: download not counted: $(cat -v "$work/scrape-$scheme")"
  echo "   $scheme: tracker counted the download"
}

# HTTP: aria2c seeder, then an aria2c leecher that exits when complete.
make_torrent http "http://127.0.0.1:$port/announce" 16
sp=$(free_port); lp=$(free_port)
echo "== http: aria2c seeder on $sp, leecher on $lp"
aria2c "${ARIA[@]}" --dir="$work/seed" --listen-port="$sp" --seed-ratio=0.0 \
  --bt-seed-unverified=true "$work/http.torrent" >"$work/seed-http.log" 2>&1 &
seeder=$!
cl_track_pid $seeder
sleep 1
mkdir -p "$work/leech-http"
timeout 60 aria2c "${ARIA[@]}" --dir="$work/leech-http" --listen-port="$lp" --seed-time=0 \
  "$work/http.torrent" >"$work/leech-http.log" 2>&1 || fail "http: leecher did not finish"
kill -TERM "$seeder" 2>/dev/null || true
check_copy_and_scrape http

# UDP: two libtorrent sessions in one python process (TCP only, no DHT/LSD).
make_torrent udp "udp://127.0.0.1:$port/announce" 15
sp=$(free_port); lp=$(free_port)
echo "== udp: libtorrent seeder on $sp, leecher on $lp"
mkdir -p "$work/leech-udp"
cat > "$work/lt.py" <<'PY'
import sys, time
import libtorrent as lt
tor, seed_dir, leech_dir, sp, lp = sys.argv[1:6]
ti = lt.torrent_info(tor)

def session(port):
    return lt.session({
        'listen_interfaces': '127.0.0.1:%s' % port, 'enable_dht': False, 'enable_lsd': False,
        'enable_upnp': False, 'enable_natpmp': False, 'enable_outgoing_utp': False,
        'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
        'alert_mask': lt.alert.category_t.tracker_notification | lt.alert.category_t.error_notification})

def wait(sess, what, pred, secs):
    end = time.time() + secs
    while time.time() < end:
        for a in sess.pop_alerts():
            print("   [%s] %s" % (what, a.message()), flush=True)
            if pred(a):
                return True
        sess.wait_for_alert(200)
    return False

s1 = session(sp)
h1 = s1.add_torrent({'ti': ti, 'save_path': seed_dir, 'flags': lt.torrent_flags.seed_mode})
if not wait(s1, 'seeder', lambda a: isinstance(a, lt.tracker_reply_alert), 20):
    sys.exit("seeder got no tracker reply")
s2 = session(lp)
h2 = s2.add_torrent({'ti': ti, 'save_path': leech_dir})
if not wait(s2, 'leecher', lambda a: isinstance(a, lt.tracker_reply_alert) and a.num_peers >= 1, 20):
    sys.exit("leecher got no peer from the tracker")
end = time.time() + 60
while not h2.status().is_seeding and time.time() < end:
    s1.pop_alerts()
    wait(s2, 'leecher', lambda a: False, 0.5)
if not h2.status().is_seeding:
    sys.exit("leecher did not finish: %s" % h2.status().state)
# libtorrent announces event=completed when it finishes.
wait(s2, 'leecher', lambda a: isinstance(a, lt.tracker_reply_alert), 10)
print("   udp: transfer done", flush=True)
PY
timeout 90 /usr/bin/python3 "$work/lt.py" "$work/udp.torrent" "$work/seed" "$work/leech-udp" "$sp" "$lp" \
  >"$work/lt.log" 2>&1 || fail "udp: libtorrent transfer failed"
grep "tracker\|udp:" "$work/lt.log" | head -5
check_copy_and_scrape udp
echo "PASS"
