#!/usr/bin/env bash
# t_swarm_stock_seeders: `bitlib fetch` downloads from stock seeders (python3-libtorrent and
# ctorrent), for two descriptions of the same set:
#   - one made by `bitlib create` (files start on piece boundaries, BEP 47 pad files);
#   - one made by `mktorrent` (no padding: pieces span file boundaries).
# Four fetchers, one per (seeder, description) pair, each in its own namespace and pointed at
# its one seeder with --peer (no tracker for bitlib); copies compared by SHA-256.  ctorrent
# knows nothing of pad files, so its copy gets them as zero-filled files on disk.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_stock_seeders opentracker ctorrent mktorrent
swarm_require_libtorrent

TRACKER=0 LT=1 CT=2
TPORT=16969

echo "== 7 nodes at 200 Mbit/s: opentracker, libtorrent seeder, ctorrent seeder, 4 bitlib fetchers"
netlab_up 7 200
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 40 --total-mib 10 --seed 5 >/dev/null
URL="http://$(netlab_ip $TRACKER):$TPORT/announce"
"$BITLIB" create -q -o "$TMP/bitlib.torrent" --tracker "$URL" "$TMP/set"
mktorrent -l 16 -a "$URL" -o "$TMP/mk.torrent" "$TMP/set" >/dev/null
H_BL=$(stock_infohash "$TMP/bitlib.torrent")
H_MK=$(stock_infohash "$TMP/mk.torrent")
pads=$(jq '[.files[] | select(.attributes | test("p"))] | length' < <("$BITLIB" inspect --json "$TMP/bitlib.torrent"))
echo "  bitlib create: $H_BL ($pads pad files)"
echo "  mktorrent:     $H_MK (64 KiB pieces spanning files)"
(( pads > 0 )) || fail "the bitlib description has no padding; the test would not test it"

stock_opentracker $TRACKER $TPORT "$TMP/ot" "$H_BL" "$H_MK" >/dev/null

echo "== starting the seeders"
# libtorrent: save path is the parent of the set's root; it knows pad files.
stock_lt $LT "$TMP/lt-bitlib.log" "$TMP/bitlib.torrent" "$TMP" 17001 --seed >/dev/null
stock_lt $LT "$TMP/lt-mk.log" "$TMP/mk.torrent" "$TMP" 17002 --seed >/dev/null
# ctorrent: its own copy, with the pad files written out as zeros for the padded one.
cp -a "$TMP/set" "$TMP/ct-padded"
stock_materialize_pads "$TMP/bitlib.torrent" "$TMP/ct-padded"
stock_ctorrent $CT "$TMP/ct-bitlib.log" "$TMP/bitlib.torrent" "$TMP/ct-padded" 17003 /dev/null seed >/dev/null
stock_ctorrent $CT "$TMP/ct-mk.log" "$TMP/mk.torrent" "$TMP/set" 17004 /dev/null seed >/dev/null
for p in 17001 17002; do netlab_wait_listen $LT $p 20; done
for p in 17003 17004; do netlab_wait_listen $CT $p 20; done
# wait until libtorrent says it is seeding (seed mode: no full check, but it must have loaded)
for f in lt-bitlib lt-mk; do
    for _ in $(seq 1 100); do grep -q '^seeding' "$TMP/$f.log" && break; sleep 0.2; done
    grep -q '^seeding' "$TMP/$f.log" || fail "$f is not seeding"
done

echo "== four bitlib fetches at once"
T0=$SECONDS
declare -A FPID FROM
fetch() {   # fetch NODE NAME TORRENT SEEDER_NODE PORT
    netlab_spawn "$1" "$TMP/fetch-$2.log" "$BITLIB" fetch --no-tracker --json --stall-timeout 60 \
        --peer "$(netlab_ip "$4"):$5" --listen "$(netlab_ip "$1"):18000" \
        "$3" "$TMP/got-$2" >/dev/null
    FPID[$2]=$NETLAB_LAST_PID
    FROM[$2]=$(netlab_ip "$4")
}
fetch 3 lt-bitlib "$TMP/bitlib.torrent" $LT 17001
fetch 4 lt-mk "$TMP/mk.torrent" $LT 17002
fetch 5 ct-bitlib "$TMP/bitlib.torrent" $CT 17003
fetch 6 ct-mk "$TMP/mk.torrent" $CT 17004

rc=0
for name in lt-bitlib lt-mk ct-bitlib ct-mk; do
    left=$(( 100 - (SECONDS - T0) ))
    stock_wait_pid "${FPID[$name]}" $(( left > 1 ? left : 1 )) || fail "fetch $name still running after 100 s"
    json=$(grep '^{' "$TMP/fetch-$name.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json") == true ]] || { echo "  $name: fetch incomplete"; rc=1; continue; }
    total=$(jq -r .bytes_downloaded <<<"$json")
    from=$(jq -r --arg ip "${FROM[$name]}:" \
        '[.peers[] | select(.addr | startswith($ip)) | .downloaded] | add // 0' <<<"$json")
    printf '  %-10s complete in %5.1f s, %s bytes, %s of them from the seeder; ' "$name" \
        "$(jq -r .seconds <<<"$json")" "$total" "$from"
    (( from == total && total > 0 )) || { echo "not all from the stock seeder"; rc=1; }
    stock_same_tree "$TMP/set" "$TMP/got-$name" || rc=1
done
(( rc == 0 )) || fail "some fetches failed"
echo "PASS"
