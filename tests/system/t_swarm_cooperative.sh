#!/usr/bin/env bash
# t_swarm_cooperative: 1 bitlib seed + 6 bitlib fetchers, every link limited to 50 Mbit/s.
# The fetchers know only the seed (--peer) and find each other through peer exchange.  All
# must complete with identical copies, and the peers must serve each other: the seed's
# egress (its interface's tx byte counter, headers included) at most 1.5 x the set's size F
# (COOP_MAX_RATIO overrides the limit; RATE, MIB, PIECE vary the setup).
# With every link at the same rate the seed is busy until the last fetcher completes, so the
# ratio is close to (swarm completion time) / (F / link rate): the test asks the swarm to finish
# within ~1.5 x the fluid lower bound.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_cooperative

N=6 RATE=${RATE:-50} MIB=${MIB:-16} PORT=16881 PIECE=${PIECE:-}
echo "== $((N + 1)) nodes at $RATE Mbit/s: 1 seed, $N fetchers; set of $MIB MiB in 50 files"
netlab_up $((N + 1)) $RATE
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 50 --total-mib $MIB --seed 11 >/dev/null
"$BITLIB" create -q ${PIECE:+-p "$PIECE"} -o "$TMP/set.torrent" "$TMP/set"
F=$("$BITLIB" inspect --json "$TMP/set.torrent" | jq .total_length)   # payload incl. padding

netlab_spawn 0 "$TMP/seed.log" "$BITLIB" seed --no-tracker --listen "$(netlab_ip 0):$PORT" \
    "$TMP/set.torrent" "$TMP/set" >/dev/null
netlab_wait_listen 0 $PORT 30

tx0=$(netlab_tx_bytes 0)
T0=$SECONDS
declare -a PIDS
for i in $(seq 1 $N); do
    netlab_spawn "$i" "$TMP/fetch-$i.log" "$BITLIB" fetch --no-tracker --json --stall-timeout 60 \
        --listen "$(netlab_ip "$i"):$PORT" --peer "$(netlab_ip 0):$PORT" \
        "$TMP/set.torrent" "$TMP/got-$i" >/dev/null
    PIDS[$i]=$NETLAB_LAST_PID
done
for i in $(seq 1 $N); do
    left=$(( 100 - (SECONDS - T0) ))
    stock_wait_pid "${PIDS[$i]}" $(( left > 1 ? left : 1 )) || fail "fetcher $i still running after 100 s"
done
tx=$(( $(netlab_tx_bytes 0) - tx0 ))
ELAPSED=$((SECONDS - T0))

echo "== every fetcher complete, copies identical"
for i in $(seq 1 $N); do
    json=$(grep '^{' "$TMP/fetch-$i.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json" 2>/dev/null) == true ]] || fail "fetcher $i did not complete"
    printf '  fetcher %d: %5.1f s, %5.1f MiB from the seed, %5.1f MiB from peers, %5.1f MiB uploaded; ' "$i" \
        "$(jq .seconds <<<"$json")" \
        "$(jq '.bytes_from_seeders / 1048576' <<<"$json")" \
        "$(jq '.bytes_from_peers / 1048576' <<<"$json")" \
        "$(jq '.bytes_uploaded / 1048576' <<<"$json")"
    stock_same_tree "$TMP/set" "$TMP/got-$i" || fail "fetcher $i's copy differs"
done

echo "== seed egress"
MAX=${COOP_MAX_RATIO:-1.50}
ratio=$(awk -v t="$tx" -v f="$F" 'BEGIN { printf "%.2f", t / f }')
tmin=$(awk -v f="$F" -v r="$RATE" 'BEGIN { printf "%.2f", f * 8 / (r * 1e6) }')
echo "  seed sent $tx bytes on the wire for F = $F bytes: $ratio F (limit $MAX F; $N fetchers)"
echo "  the last fetcher exited after $ELAPSED s (whole seconds); F at $RATE Mbit/s takes $tmin s"
awk -v r="$ratio" -v m="$MAX" 'BEGIN { exit !(r <= m) }' ||
    fail "the seed sent $ratio F (> $MAX F): the fetchers did not serve each other enough"
grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$TMP"/*.log && fail "sanitizer report"
echo "PASS"
