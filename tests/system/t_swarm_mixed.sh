#!/usr/bin/env bash
# t_swarm_mixed: one bitlib seed, 3 bitlib fetchers and 3 python3-libtorrent leechers in one
# swarm (every link 50 Mbit/s).  Everyone is told only the seed's address; they find each
# other by peer exchange (ut_pex, spoken by both).  All six must complete with identical
# copies; the bytes that moved between bitlib fetchers and libtorrent peers are printed, and
# some must have moved (the stock choking path between bitlib and a stock client is used).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
TAIL_LINES=10
swarm_test_init t_swarm_mixed
swarm_require_libtorrent

PORT=16881 RATE=50
echo "== 7 nodes at $RATE Mbit/s: bitlib seed; bitlib fetchers on 1-3; libtorrent leechers on 4-6"
netlab_up 7 $RATE
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 40 --total-mib 16 --seed 17 >/dev/null
"$BITLIB" create -q -o "$TMP/set.torrent" "$TMP/set"
SEED_ADDR="$(netlab_ip 0):$PORT"

netlab_spawn 0 "$TMP/seed.log" "$BITLIB" seed --no-tracker --listen "$SEED_ADDR" \
    "$TMP/set.torrent" "$TMP/set" >/dev/null
netlab_wait_listen 0 $PORT 30

T0=$SECONDS
declare -A PID
for i in 4 5 6; do
    PID[$i]=$(stock_lt "$i" "$TMP/lt-$i.log" "$TMP/set.torrent" "$TMP/lt-$i" $PORT \
        --peer "$SEED_ADDR" --keep-seeding)
done
for i in 1 2 3; do
    PID[$i]=$(netlab_spawn "$i" "$TMP/fetch-$i.log" "$BITLIB" fetch --no-tracker --json \
        --keep-serving --on-complete "touch $TMP/done-$i" --stall-timeout 60 \
        --listen "$(netlab_ip "$i"):$PORT" --peer "$SEED_ADDR" "$TMP/set.torrent" "$TMP/got-$i")
done

echo "== waiting for all six (at most 100 s)"
# Everyone keeps serving after completing, so late finishers can still get data from early
# ones; the test stops them (SIGTERM) once all six are done.
for i in 1 2 3 4 5 6; do
    left=$(( 100 - (SECONDS - T0) )); (( left > 1 )) || left=1
    if (( i <= 3 )); then
        stock_wait_file "$TMP/done-$i" $left || fail "bitlib fetcher $i did not complete"
    else
        deadline=$(( SECONDS + left ))
        until grep -q '^complete' "$TMP/lt-$i.log"; do
            (( SECONDS < deadline )) || fail "libtorrent leecher $i did not complete"
            netlab_alive "${PID[$i]}" || fail "libtorrent leecher $i exited"
            sleep 0.2
        done
    fi
done
echo "  all six complete after $((SECONDS - T0)) s"
for i in 1 2 3; do kill -TERM "${PID[$i]}"; done
for i in 1 2 3; do stock_wait_pid "${PID[$i]}" 10 || fail "bitlib fetcher $i did not stop on SIGTERM"; done

echo "== copies"
for i in 1 2 3; do stock_same_tree "$TMP/set" "$TMP/got-$i" || fail "bitlib fetcher $i's copy differs"; done
for i in 4 5 6; do stock_same_tree "$TMP/set" "$TMP/lt-$i/set" || fail "libtorrent leecher $i's copy differs"; done

echo "== traffic between bitlib fetchers and libtorrent peers"
lt_ips="$(netlab_ip 4) $(netlab_ip 5) $(netlab_ip 6)"
total_from=0 total_to=0
for i in 1 2 3; do
    json=$(grep '^{' "$TMP/fetch-$i.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json") == true ]] || fail "fetcher $i's summary says incomplete"
    read -r from to < <(jq -r --arg ips "$lt_ips" '
        ($ips | split(" ")) as $lt
        | [.peers[] | select((.addr | split(":")[0]) as $a | $lt | index($a))]
        | "\(map(.downloaded) | add // 0) \(map(.uploaded) | add // 0)"' <<<"$json")
    echo "  bitlib fetcher $i: $from bytes from libtorrent peers, $to bytes to them" \
        "($(jq '.bytes_from_seeders' <<<"$json") from the seed)"
    total_from=$((total_from + from)); total_to=$((total_to + to))
done
(( total_from + total_to > 0 )) || fail "no data moved between bitlib and libtorrent peers"
grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$TMP"/*.log && fail "sanitizer report"
echo "PASS"
