#!/usr/bin/env bash
# t_swarm_hostile: bitlib nodes against deliberately hostile peers (lib/hostile_peer.py), all
# at once in one 20 Mbit/s cluster, with 1 MiB pieces (64 blocks each, so a piece can mix
# blocks from several peers):
#  (a) fetcher A has an honest seed and a liar that answers requests with random bytes:
#      A notices by hash, logs it, disconnects (and bans) the liar, completes from the seed,
#      and never blames the honest seed;
#  (b) fetcher C, mid-download, and the seed are hit by connections that send garbage
#      handshakes, a 0x7fffffff length prefix, out-of-range piece indexes, an oversized
#      request, a bad bitfield, a request for a piece C lacks: each is dropped within 5 s,
#      and C's honest transfer goes on undisturbed (its connection to the seed stays up);
#  (c) fetcher B has an honest seed and a peer that accepts requests but never answers:
#      B completes anyway (request timeout), saying so in its log;
#  (d) fetcher D has an honest seed and a slow liar (50 ms per corrupt block), whose blocks
#      land in the same pieces as the seed's: D must still complete from the seed, and drop
#      the liar, not the seed;
#  (e) fetcher C is also sent blocks nobody asked for (random bytes): it completes with a
#      correct copy whatever it does with them.
# Every copy is compared with the original by SHA-256.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/swarmtest.sh"
TAIL_LINES=25
swarm_test_init t_swarm_hostile
HOSTILE=$HERE/lib/hostile_peer.py

SEED=0 LIAR=1 SILENT=2 FA=3 FB=4 FC=5 ATTACKER=6 SLOWLIAR=7 FD=8
PORT=16881

echo "== 9 nodes at 20 Mbit/s: seed, liar, silent peer, fetchers A B C D, attacker, slow liar"
netlab_up 9 20
# Fetcher C must still be downloading when the attacks on it are over (they take several
# seconds on a busy machine, and C also learns of A, B and D through PEX): its download
# link gets 4 Mbit/s, about 17 s for the set.
tc -n "$(netlab_hub_ns)" qdisc replace dev "p$FC" root tbf rate 4mbit burst 128kb latency 20ms
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 30 --total-mib 8 --seed 7 >/dev/null
"$BITLIB" create -q -p "${PIECE:-1M}" -o "$TMP/set.torrent" "$TMP/set"
read -r HASH PLEN TOTAL < <("$BITLIB" inspect --json "$TMP/set.torrent" |
    jq -r '"\(.info_hash) \(.piece_length) \(.total_length)"')
GEO=(--info-hash "$HASH" --piece-length "$PLEN" --total-length "$TOTAL")
echo "  set: 30 files, 8 MiB, pieces of $PLEN bytes"
ip_of() { netlab_ip "$1"; }

netlab_spawn $SEED "$TMP/seed.log" "$BITLIB" seed --no-tracker \
    --listen "$(ip_of $SEED):$PORT" "$TMP/set.torrent" "$TMP/set" >/dev/null
netlab_spawn $LIAR "$TMP/liar.log" "$STOCK_PY" "$HOSTILE" liar --listen "$(ip_of $LIAR):$PORT" "${GEO[@]}" >/dev/null
netlab_spawn $SILENT "$TMP/silent.log" "$STOCK_PY" "$HOSTILE" silent --listen "$(ip_of $SILENT):$PORT" "${GEO[@]}" >/dev/null
netlab_spawn $SLOWLIAR "$TMP/slowliar.log" "$STOCK_PY" "$HOSTILE" liar --delay 0.05 \
    --listen "$(ip_of $SLOWLIAR):$PORT" "${GEO[@]}" >/dev/null
netlab_wait_listen $SEED $PORT 30
netlab_wait_listen $SLOWLIAR $PORT 10
netlab_wait_listen $LIAR $PORT 10
netlab_wait_listen $SILENT $PORT 10

fetch() {   # fetch NODE NAME PEER_NODE...
    local node=$1 name=$2 peers=()
    shift 2
    for n in "$@"; do peers+=(--peer "$(ip_of "$n"):$PORT"); done
    netlab_spawn "$node" "$TMP/fetch-$name.log" "$BITLIB" fetch --no-tracker --json \
        --stall-timeout 60 --listen "$(ip_of "$node"):$PORT" "${peers[@]}" \
        "$TMP/set.torrent" "$TMP/got-$name"
}
T0=$SECONDS
PC=$(fetch $FC C $SEED)
PA=$(fetch $FA A $LIAR $SEED)
PB=$(fetch $FB B $SILENT $SEED)
PD=$(fetch $FD D $SLOWLIAR $SEED)

echo "== (b) hostile connections to fetcher C (mid-download) and to the seed"
sleep 1
netlab_exec $ATTACKER timeout 60 "$STOCK_PY" "$HOSTILE" attack --bind "$(ip_of $ATTACKER)" \
    --target "$(ip_of $FC):$PORT" "${GEO[@]}" >"$TMP/attack-C.out" 2>&1 || true
netlab_exec $ATTACKER timeout 60 "$STOCK_PY" "$HOSTILE" attack --bind "$(ip_of $ATTACKER)" \
    --target "$(ip_of $FC):$PORT" "${GEO[@]}" --kinds unsolicited >>"$TMP/attack-C.out" 2>&1 || true
sed 's/^/  fetcher C: /' "$TMP/attack-C.out"
netlab_exec $ATTACKER timeout 60 "$STOCK_PY" "$HOSTILE" attack --bind "$(ip_of $ATTACKER)" \
    --target "$(ip_of $SEED):$PORT" "${GEO[@]}" \
    --kinds garbage,badproto,oversize,badindex,badrequest,biglen,badbitfield \
    >"$TMP/attack-seed.out" 2>&1 || true
sed 's/^/  seed:      /' "$TMP/attack-seed.out"
[[ $(grep -v '^unsolicited' "$TMP/attack-C.out" | grep -c 'dropped after') -eq 8 ]] || fail "fetcher C did not drop every hostile connection"
[[ $(grep -c 'dropped after' "$TMP/attack-seed.out") -eq 7 ]] || fail "the seed did not drop every hostile connection"
kill -0 "$PC" 2>/dev/null || fail "fetcher C finished before the attacks were over; the test needs a slower link"

# judge: fetch NAME -> its summary JSON, after the process is gone
finished() {   # finished PID NAME
    local left=$(( 100 - (SECONDS - T0) ))
    stock_wait_pid "$1" $(( left > 1 ? left : 1 )) || fail "fetcher $2 still running after 100 s"
    json=$(grep '^{' "$TMP/fetch-$2.log" | tail -n 1)
    [[ $(jq -r .complete <<<"$json" 2>/dev/null) == true ]] || fail "fetcher $2 did not complete"
    printf '  fetcher %s complete in %.1f s, %s hash failures; ' "$2" "$(jq -r .seconds <<<"$json")" \
        "$(jq -r .hash_failures <<<"$json")"
    stock_same_tree "$TMP/set" "$TMP/got-$2" || fail "fetcher $2's copy differs"
}

echo "== (b) fetcher C completes and kept its connection to the seed"
finished "$PC" C
# (after completion every connection closes: look at what happened before)
before_complete() { sed '/complete: every piece verified/q' "$1"; }
if before_complete "$TMP/fetch-C.log" | grep -q "peer $(ip_of $SEED):$PORT: closed"; then
    grep "closed" "$TMP/fetch-C.log"
    fail "fetcher C lost its connection to the seed"
fi
echo "  C's log names each hostile connection it dropped:"
grep "peer $(ip_of $ATTACKER):[0-9]*: closed" "$TMP/fetch-C.log" | sed 's/^.*closed: /    /'

echo "== (a) fetcher A: corrupt data detected, liar dropped, honest seed kept"
finished "$PA" A
grep -q "failed its hash check (data from $(ip_of $LIAR):$PORT" "$TMP/fetch-A.log" ||
    fail "no hash-failure line naming the liar in A's log"
grep -q "peer $(ip_of $LIAR):$PORT: closed: sent data that failed the hash check" "$TMP/fetch-A.log" ||
    fail "A did not disconnect the liar"
grep "peer $(ip_of $LIAR):$PORT: closed" "$TMP/fetch-A.log" | head -n 1 | sed 's/^.*INFO /  /'
if before_complete "$TMP/fetch-A.log" | grep -q "peer $(ip_of $SEED):$PORT: closed"; then
    grep "$(ip_of $SEED)" "$TMP/fetch-A.log" | head
    fail "A dropped the honest seed"
fi
# the liar must not get back in: it was banned (at most the one connection)
n=$(grep -c "connected; liar mode" "$TMP/liar.log" || true)
echo "  the liar was connected $n time(s)"
(( n == 1 )) || fail "A reconnected to the liar after banning it"

echo "== (c) fetcher B: a peer that never answers does not stop the fetch"
finished "$PB" B
nreq=$(grep -o 'ignored [0-9]* requests' "$TMP/silent.log" | awk '{ s += $2 } END { print s + 0 }')
echo "  the silent peer ignored $nreq requests from B"
(( nreq > 0 )) || fail "B never asked the silent peer for anything: (c) tested nothing"
{ grep "unanswered" "$TMP/fetch-B.log" || true; } | head -n 2 | sed "s/^.*INFO /  /"

echo "== (d) fetcher D: a slow liar sharing pieces with the seed is found out; the seed is kept"
finished "$PD" D
grep -q "peer $(ip_of $SLOWLIAR):$PORT: closed: sent data that failed the hash check" "$TMP/fetch-D.log" ||
    fail "D did not disconnect the slow liar"
if before_complete "$TMP/fetch-D.log" | grep -q "peer $(ip_of $SEED):$PORT: closed"; then
    fail "D dropped the honest seed"
fi
echo "  $(grep -c 'fetching it again from' "$TMP/fetch-D.log" || true) pieces failed with blocks from both and were re-fetched from one peer; the slow liar was dropped, the seed kept"

for f in "$TMP"/fetch-*.log "$TMP/seed.log"; do
    if grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$f"; then
        grep -A5 'AddressSanitizer\|runtime error\|LeakSanitizer' "$f" | head -n 30
        fail "sanitizer report in $f"
    fi
done
kill -0 "$(head -n 1 "$NETLAB_DIR/pids" | cut -d' ' -f1)" 2>/dev/null || fail "the seed died"
echo "PASS"
