#!/usr/bin/env bash
# t_swarm_memory: a `bitlib seed` serving 16 fetchers at once stays under 64 MiB of anonymous
# memory (RssAnon: its heap and stacks, not the page cache of the files it serves).  17 nodes
# at 20 Mbit/s (each fetcher needs at least 6.7 s, so all 16 are connected at once even when
# starting them takes seconds on a busy machine), a 16 MiB set; the seed's /proc/PID/status is sampled every 0.1 s while the
# fetchers download, and the peak RssAnon and VmRSS are printed.  With an ASan build the figure
# is printed but not judged (the sanitizer's shadow memory and quarantine dominate).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_memory

N=16 RATE=20 MIB=16 PORT=16881 LIMIT_KIB=$((64 * 1024))
ASAN=0
grep -q '__asan_init' "$BITLIB" 2>/dev/null && ASAN=1

echo "== $((N + 1)) nodes at $RATE Mbit/s: 1 seed, $N bitlib fetchers; $MIB MiB set"
netlab_up $((N + 1)) $RATE
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 60 --total-mib $MIB --seed 13 >/dev/null
"$BITLIB" create -q -o "$TMP/set.torrent" "$TMP/set"

SEED_PID=$(netlab_spawn 0 "$TMP/seed.log" "$BITLIB" seed --no-tracker --listen "$(netlab_ip 0):$PORT" \
    "$TMP/set.torrent" "$TMP/set")
netlab_wait_listen 0 $PORT 30
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
echo "  seed idle: RssAnon $(status_kib "$SEED_PID" RssAnon) KiB, VmRSS $(status_kib "$SEED_PID" VmRSS) KiB"

T0=$SECONDS
declare -a PIDS
for i in $(seq 1 $N); do
    PIDS[$i]=$(netlab_spawn "$i" "$TMP/fetch-$i.log" "$BITLIB" fetch --no-tracker --json -q \
        --stall-timeout 60 --listen "$(netlab_ip "$i"):$PORT" --peer "$(netlab_ip 0):$PORT" \
        "$TMP/set.torrent" "$TMP/got-$i")
done

peak_anon=0 peak_rss=0 peak_peers=0
running() { local p; for p in "${PIDS[@]}"; do netlab_alive "$p" && return 0; done; return 1; }
while running; do
    (( SECONDS - T0 < 100 )) || fail "fetchers still running after 100 s"
    a=$(status_kib "$SEED_PID" RssAnon) || fail "the seed died"
    r=$(status_kib "$SEED_PID" VmRSS)
    c=$(netlab_exec 0 ss -Htn state established "sport = :$PORT" | wc -l)
    (( a > peak_anon )) && peak_anon=$a
    (( r > peak_rss )) && peak_rss=$r
    (( c > peak_peers )) && peak_peers=$c
    sleep 0.1
done

echo "== all fetchers complete, copies identical"
ok=0 secs=
for i in $(seq 1 $N); do
    json=$(grep '^{' "$TMP/fetch-$i.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json" 2>/dev/null) == true ]] || fail "fetcher $i did not complete"
    stock_same_tree "$TMP/set" "$TMP/got-$i" >/dev/null || fail "fetcher $i's copy differs"
    ok=$((ok + 1))
    secs+=" $(jq -r .seconds <<<"$json")"
done
echo "  $ok fetchers complete in $((SECONDS - T0)) s, every copy identical (SHA-256); each took (s):$secs"

echo "== seed memory while serving (peak of $peak_peers connections at once)"
echo "  peak RssAnon $peak_anon KiB ($((peak_anon / 1024)) MiB), peak VmRSS $peak_rss KiB ($((peak_rss / 1024)) MiB); limit RssAnon $((LIMIT_KIB / 1024)) MiB"
(( peak_peers >= N )) || fail "the seed never had all $N fetchers connected at once (peak $peak_peers)"
if (( ASAN )); then
    echo "  (ASan build: limit not judged)"
else
    (( peak_anon <= LIMIT_KIB )) || fail "the seed used $peak_anon KiB of anonymous memory"
fi
grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$TMP"/*.log && fail "sanitizer report"
echo "PASS"
