#!/usr/bin/env bash
# t_swarm_stock_leechers: a `bitlib seed` serves a set (made by `bitlib create`, BEP 47 padded)
# to four stock leechers at once, each in its own network namespace: python3-libtorrent,
# aria2c, transmission-cli and ctorrent.  opentracker introduces them (the stock clients all
# need a tracker except libtorrent, which is also given the seeder directly; the seed announces
# itself).  Every leecher's
# copy is compared with the original by SHA-256.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_stock_leechers opentracker aria2c transmission-cli ctorrent
swarm_require_libtorrent
SEED_LOG=$TMP/seed.log

SEED=0 TRACKER=1 LT=2 ARIA=3 TR=4 CT=5
PORT=16881 TPORT=16969

echo "== 6 nodes at 200 Mbit/s: bitlib seed, opentracker, libtorrent, aria2c, transmission, ctorrent"
netlab_up 6 200
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 40 --total-mib 12 --seed 3 >/dev/null
URL="http://$(netlab_ip $TRACKER):$TPORT/announce"
"$BITLIB" create -q -o "$TMP/set.torrent" --tracker "$URL" "$TMP/set"
HASH=$(stock_infohash "$TMP/set.torrent")
echo "  set: 40 files, 12 MiB, info-hash $HASH"

stock_opentracker $TRACKER $TPORT "$TMP/ot" "$HASH" >/dev/null
# The seed announces itself to opentracker (its tracker client); the stock clients find it
# there.  A build without a tracker client gets announced on its behalf instead.
netlab_spawn $SEED "$SEED_LOG" "$BITLIB" seed \
    --listen "$(netlab_ip $SEED):$PORT" "$TMP/set.torrent" "$TMP/set" >/dev/null
SEED_PID=$NETLAB_LAST_PID
netlab_wait_listen $SEED $PORT 30
sleep 0.3
if grep -q 'trackers are not spoken by this build' "$SEED_LOG"; then
    stock_announce $SEED "$URL" "$HASH" $PORT 0
fi

T0=$SECONDS
tx0=$(netlab_tx_bytes $SEED)
stock_lt $LT "$TMP/lt.log" "$TMP/set.torrent" "$TMP/lt" $PORT \
    --peer "$(netlab_ip $SEED):$PORT" --timeout 90 >/dev/null
LT_PID=$NETLAB_LAST_PID
stock_aria2 $ARIA "$TMP/aria2.log" "$TMP/set.torrent" "$TMP/aria2" $PORT >/dev/null
ARIA_PID=$NETLAB_LAST_PID
stock_transmission $TR "$TMP/transmission.log" "$TMP/set.torrent" "$TMP/tr" $PORT "$TMP/tr.done" >/dev/null
stock_ctorrent $CT "$TMP/ctorrent.log" "$TMP/set.torrent" "$TMP/ct/set" $PORT "$TMP/ct.done" >/dev/null

echo "== waiting for the four leechers (at most 100 s)"
stock_wait_pid $LT_PID 100 || fail "libtorrent did not finish"
grep -q '^complete' "$TMP/lt.log" || fail "libtorrent did not complete"
echo "  libtorrent complete after $((SECONDS - T0)) s"
stock_wait_pid $ARIA_PID $((100 - (SECONDS - T0))) || fail "aria2c did not finish"
grep -q 'Download complete\|download completed' "$TMP/aria2.log" || fail "aria2c did not complete"
echo "  aria2c complete after $((SECONDS - T0)) s"
stock_wait_file "$TMP/tr.done" $((100 - (SECONDS - T0))) || fail "transmission-cli did not complete"
echo "  transmission-cli complete after $((SECONDS - T0)) s"
stock_wait_file "$TMP/ct.done" $((100 - (SECONDS - T0))) || fail "ctorrent did not complete"
echo "  ctorrent complete after $((SECONDS - T0)) s"

echo "== comparing every copy with the original"
stock_same_tree "$TMP/set" "$TMP/lt/set" || fail "libtorrent's copy differs"
stock_same_tree "$TMP/set" "$TMP/aria2/set" || fail "aria2c's copy differs"
stock_same_tree "$TMP/set" "$TMP/tr/set" || fail "transmission-cli's copy differs"
stock_same_tree "$TMP/set" "$TMP/ct/set" || fail "ctorrent's copy differs"

echo "== the bitlib seeder served them"
tx=$(( $(netlab_tx_bytes $SEED) - tx0 ))
echo "  seeder sent $tx bytes on the wire (set: $(( 12 << 20 )) bytes)"
(( tx >= (12 << 20) )) || fail "the seeder sent less than one copy: the stock clients did not fetch from it"
kill -0 "$SEED_PID" 2>/dev/null || fail "bitlib seed died"
grep -i 'error\|AddressSanitizer\|runtime error' "$SEED_LOG" && fail "errors in the seeder's log"
echo "PASS"
