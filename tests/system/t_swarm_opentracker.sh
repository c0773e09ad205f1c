#!/usr/bin/env bash
# t_swarm_opentracker: opentracker is the only way a bitlib swarm finds itself.  One seed and
# three fetchers, none given --peer: the seed and fetchers 1 and 3 announce over HTTP, fetcher
# 2 over UDP (BEP 15), to an opentracker whitelisting the set's info-hash (the two descriptions
# differ only in their announce URL, outside the info dictionary, so they share the info-hash).
# All three must complete with identical copies, each having connected to the seed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_opentracker opentracker

TRACKER=0 SEED=1 PORT=16881 TPORT=16969
echo "== 5 nodes at 100 Mbit/s: opentracker, bitlib seed, 3 bitlib fetchers (no --peer anywhere)"
netlab_up 5 100
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 30 --total-mib 8 --seed 19 >/dev/null
HTTP="http://$(netlab_ip $TRACKER):$TPORT/announce"
UDP="udp://$(netlab_ip $TRACKER):$TPORT"
"$BITLIB" create -q -o "$TMP/http.torrent" --tracker "$HTTP" "$TMP/set"
"$BITLIB" create -q -o "$TMP/udp.torrent" --tracker "$UDP" "$TMP/set"
HASH=$(stock_infohash "$TMP/http.torrent")
[[ "$(stock_infohash "$TMP/udp.torrent")" == "$HASH" ]] || fail "the two descriptions have different info-hashes"
echo "  info-hash $HASH; trackers $HTTP and $UDP"

stock_opentracker $TRACKER $TPORT "$TMP/ot" "$HASH" >/dev/null
netlab_spawn $SEED "$TMP/seed.log" "$BITLIB" seed --listen "$(netlab_ip $SEED):$PORT" \
    "$TMP/http.torrent" "$TMP/set" >/dev/null
netlab_wait_listen $SEED $PORT 30

T0=$SECONDS
declare -a PIDS
for i in 1 2 3; do
    node=$((i + 1)) desc=$TMP/http.torrent
    (( i == 2 )) && desc=$TMP/udp.torrent
    PIDS[$i]=$(netlab_spawn $node "$TMP/fetch-$i.log" "$BITLIB" fetch --json --stall-timeout 45 \
        --listen "$(netlab_ip $node):$PORT" "$desc" "$TMP/got-$i")
done
for i in 1 2 3; do
    left=$(( 100 - (SECONDS - T0) ))
    stock_wait_pid "${PIDS[$i]}" $(( left > 1 ? left : 1 )) || fail "fetcher $i still running after 100 s"
done
echo "  the three fetchers exited after $((SECONDS - T0)) s"

echo "== every fetcher complete, copies identical"
for i in 1 2 3; do
    json=$(grep '^{' "$TMP/fetch-$i.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json" 2>/dev/null) == true ]] || fail "fetcher $i did not complete"
    printf '  fetcher %d (%s): %.1f s, %d peers; ' "$i" "$( (( i == 2 )) && echo UDP || echo HTTP)" \
        "$(jq .seconds <<<"$json")" "$(jq '.peers | length' <<<"$json")"
    stock_same_tree "$TMP/set" "$TMP/got-$i" || fail "fetcher $i's copy differs"
done

echo "== each fetcher learnt the seed from the tracker"
for i in 1 2 3; do
    json=$(grep '^{' "$TMP/fetch-$i.log" | tail -n 1)
    jq -e --arg a "$(netlab_ip $SEED):$PORT" '[.peers[] | select(.addr == $a)] | length > 0' \
        <<<"$json" >/dev/null || fail "fetcher $i never connected to the seed"
done
echo "  all three connected to the seed at $(netlab_ip $SEED):$PORT"
grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$TMP"/*.log && fail "sanitizer report"
echo "PASS"
