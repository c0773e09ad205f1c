#!/usr/bin/env bash
# t_offload_push_pull: result offload through depots in network namespaces (issue 12).
#
# Node 0 is the center (and later the user's site); nodes 1..6 run `bitlib depot`, their
# download links shaped to 48, 32, 16, 16, 16 and 48 Mbit/s; depot 6, a fast one, has room for 4 chunks
# only.
#   - a push with a key the depots do not hold is refused, in one line naming the reason
#   - two offloads of ~6 MiB each (several files, RS 4:5, 256 KiB chunks) pushed at once:
#     both see room on depot 6 when they plan, so one of them is refused there ("depot
#     full") and places those chunks elsewhere; depot 6 never holds more than its capacity;
#     both manifests survive the loss of any one depot
#   - a chunk rewritten on a depot with a matching header checksum (so the depot serves it)
#     is caught by the puller against the manifest, and its stripe decoded from the others
#   - the busiest depot is killed (SIGKILL): status says recoverable, and both offloads
#     pull back byte for byte from the rest
#   - with a second depot killed, status says not recoverable (exit 1) and pull fails in one
#     line naming the short stripe and the depots that are down
#   - both restarted, every chunk is back (status: all five chunks of every stripe)
#   - a depot SIGKILLed in the middle of a third push: the push sends what it had
#     acknowledged again elsewhere and succeeds, the offload pulls back identical, and the
#     killed depot's store holds no temporaries and no damaged chunk when it restarts
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/netlab.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in python3 cmp ss; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
(( EUID == 0 )) || { echo "SKIP: needs root (network namespaces)"; exit 77; }
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_offload.XXXXXX")
cl_track_dir "$W"
export NETLAB_PREFIX=of$$ NETLAB_NET=10.79.$(( $$ % 200 + 20 ))
fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log "$W"/*.err; do [[ -s $f ]] && { echo "--- $f"; tail -6 "$f"; }; done
    exit 1
}
PORT=27100

echo "== keys, files, cluster"
head -c 32 /dev/urandom | base64 >"$W/key"
head -c 32 /dev/urandom | base64 >"$W/otherkey"
chmod 600 "$W/key" "$W/otherkey"
for x in A B; do
    mkdir -p "$W/src$x"
    head -c $((4 << 20)) /dev/urandom >"$W/src$x/result.h5"
    head -c $((1500000 + RANDOM)) /dev/urandom >"$W/src$x/checkpoint.bin"
    echo "job log $x" >"$W/src$x/job.log"
    : >"$W/src$x/empty.out"
done
netlab_up 7
rates=(0 48 32 16 16 16 48)
for i in 1 2 3 4 5 6; do
    tc -n "$(netlab_hub_ns)" qdisc replace dev "p$i" root tbf rate "${rates[$i]}mbit" burst 128kb latency 50ms
done
caps=(0 64M 64M 64M 64M 64M 1M)
DEPOTS=()
declare -a DPID
start_depot() {
    local i=$1
    DPID[$i]=$(netlab_spawn "$i" "$W/depot$i.log" "$BITLIB" depot --store "$W/store$i" \
        --capacity "${caps[$i]}" --listen "$(netlab_ip "$i"):$PORT" --key-file "$W/key")
}
for i in 1 2 3 4 5 6; do
    start_depot "$i"
    DEPOTS+=(--depot "$(netlab_ip "$i"):$PORT")
done
for i in 1 2 3 4 5 6; do netlab_wait_listen "$i" "$PORT" 20 || fail "depot $i did not start"; done
c0() { netlab_exec 0 "$BITLIB" "$@"; }

echo "== a push with a key the depots do not hold is refused"
rc=0
c0 offload push "$W/srcA/job.log" --manifest "$W/bad.manifest" --key-file "$W/otherkey" \
    "${DEPOTS[@]}" -q >"$W/badkey.out" 2>"$W/badkey.err" || rc=$?
(( rc == 1 )) || fail "push with the wrong key exited $rc"
last=$(tail -1 "$W/badkey.err")
[[ $last == *"no depot can take chunks: all 6: depot refused: authentication failed"* ]] ||
    fail "wrong key: last line is '$last'"
[[ ! -e $W/bad.manifest ]] || fail "a manifest was written for a refused push"
echo "   $last"

echo "== two offloads pushed at once; depot 6 (room for 4 chunks) fills up"
t0=$(date +%s.%N)
PUSHES=()
for x in A B; do
    json=(); [[ $x == B ]] && json=(--json)   # B reports as one JSON line
    (rc=0; c0 offload push "$W/src$x"/* --manifest "$W/$x.manifest" --key-file "$W/key" \
        "${DEPOTS[@]}" --rs 4:5 --chunk 256K --deadline +120 "${json[@]}" >"$W/push$x.out" 2>"$W/push$x.err" ||
        rc=$?; echo "$rc" >"$W/push$x.rc") &
    PUSHES+=($!)
    cl_track_pid $!
done
wait "${PUSHES[@]}"
t1=$(date +%s.%N)
for x in A B; do
    [[ $(cat "$W/push$x.rc") == 0 ]] || fail "push $x exited $(cat "$W/push$x.rc")"
    out=$(cat "$W/push$x.out")
    if [[ $x == B ]]; then
        # the JSON summary: one line, the same facts, and the chunks per depot add up to
        # every chunk of every stripe (RS 4:5, 256 KiB chunks, one copy)
        (( $(wc -l <"$W/pushB.out") == 1 )) || fail "push --json printed more than one line: $out"
        jq -e '.event == "pushed" and .survives_one and .deadline_met and .purge_met and .rs == "4:5"
               and .error == null and (.depots | length) > 0' <<<"$out" >/dev/null || fail "push B --json: $out"
        bytes=$(jq .bytes <<<"$out") chunks=$(jq '[.depots[].chunks] | add' <<<"$out")
        want=$(( (bytes + 4 * 262144 - 1) / (4 * 262144) * 5 ))
        [[ $bytes == $(cat "$W/srcB"/* | wc -c) ]] || fail "push B --json: bytes $bytes"
        (( chunks == want )) || fail "push B --json: depots hold $chunks chunks, the stripes need $want"
        echo "   B (--json): $bytes bytes, $chunks chunks on $(jq '[.depots[] | select(.chunks > 0)] | length' <<<"$out") depots"
    else
        [[ $out == *"survives the loss of any one depot"* && $out == *"delivery deadline met"* ]] ||
            fail "push $x: $out"
        echo "   $x: $out"
    fi
done
grep -h "refused chunk .*depot full" "$W"/push?.err | head -1 | sed 's/^/   /'
grep -q "refused chunk .*depot full" "$W"/push?.err || fail "neither push was refused by the full depot"
used=$(c0 depot status "$(netlab_ip 6):$PORT" --key-file "$W/key") || fail "depot status: $used"
echo "   $used"
[[ $used =~ ([0-9]+)\ bytes\ used ]] && (( BASH_REMATCH[1] <= 1 << 20 )) || fail "depot 6 holds more than 1M"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   both pushes: %.1f s\n", b - a }'

echo "== a chunk altered on a depot (with a matching header) is caught; the stripe is decoded from the others"
victim=$(find "$W"/store? -name '0.chunk' | head -1)
[[ -n $victim ]] || fail "no depot holds chunk 0 of an offload"
cp "$victim" "$W/chunk0.orig"
python3 - "$victim" <<'EOF'
import hashlib, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[40] ^= 0xff                      # first data byte (after magic and SHA-256)
b[8:40] = hashlib.sha256(bytes(b[40:])).digest()
open(p, 'wb').write(bytes(b))
EOF
idhex=$(basename "$(dirname "$victim")")
x=A
c0 offload status "$W/A.manifest" | grep -q "^offload $idhex" || x=B
mkdir "$W/tamper$x"
c0 offload pull "$W/$x.manifest" --out "$W/tamper$x" --timeout 3 >"$W/pull2.out" 2>"$W/pull2.err" ||
    fail "pull after tampering: $(tail -1 "$W/pull2.err")"
grep -q "chunk 0 from .* does not match the manifest" "$W/pull2.err" || fail "the altered chunk was not reported"
for f in "$W/src$x"/*; do cmp "$f" "$W/tamper$x/$(basename "$f")" || fail "$(basename "$f") differs"; done
echo "   $(grep -m1 "does not match" "$W/pull2.err" | sed 's/^.*WARN //')"
cp "$W/chunk0.orig" "$victim"   # put it back: the next steps lose whole depots

echo "== the busiest depot is killed; both offloads pull back from the rest"
busiest=1 most=0
for i in 1 2 3 4 5; do
    n=$(find "$W/store$i" -name '*.chunk' | wc -l)
    (( n > most )) && { most=$n; busiest=$i; }
done
kill -KILL "${DPID[$busiest]}"
st=$(c0 offload status "$W/A.manifest" --timeout 3) || fail "status after one kill: $st"
grep -q "recoverable: yes" <<<"$st" || fail "status: $st"
grep -q "depot $(netlab_ip "$busiest"):$PORT: down" <<<"$st" || fail "status does not name the dead depot: $st"
echo "   depot $busiest (${most} chunks) killed; status: $(tail -1 <<<"$st")"
for x in A B; do
    mkdir "$W/out$x"
    c0 offload pull "$W/$x.manifest" --out "$W/out$x" --timeout 3 >"$W/pull$x.out" 2>"$W/pull$x.err" ||
        fail "pull $x: $(tail -1 "$W/pull$x.err")"
    for f in "$W/src$x"/*; do
        cmp "$f" "$W/out$x/$(basename "$f")" || fail "pull $x: $(basename "$f") differs"
    done
    [[ -z $(find "$W/out$x" -name '.*') ]] || fail "pull $x left temporaries"
    echo "   $x: $(tail -1 "$W/pull$x.out")"
done

echo "== a second depot killed: not recoverable, said in one line"
second=""
for i in 1 2 3 4 5; do [[ $i != "$busiest" ]] && { second=$i; break; }; done
kill -KILL "${DPID[$second]}"
rc=0
st=$(c0 offload status "$W/A.manifest" --timeout 3) || rc=$?
(( rc == 1 )) && grep -q "recoverable: NO" <<<"$st" || fail "status with two depots down (exit $rc): $st"
echo "   status: $(tail -1 <<<"$st")"
rm -rf "$W/outA"; mkdir "$W/outA"
rc=0
c0 offload pull "$W/A.manifest" --out "$W/outA" --timeout 3 >"$W/pull3.out" 2>"$W/pull3.err" || rc=$?
(( rc == 1 )) || fail "pull with two depots down exited $rc"
(( $(wc -l <"$W/pull3.err") == 1 )) || fail "pull failure is not one line: $(cat "$W/pull3.err")"
grep -q "not recoverable: .* stripes have fewer than 4 chunks .*depots down: .*$(netlab_ip "$second")" "$W/pull3.err" ||
    fail "pull failure: $(cat "$W/pull3.err")"
[[ -z $(ls -A "$W/outA") ]] || fail "a failed pull left files: $(ls -A "$W/outA")"
echo "   $(cat "$W/pull3.err")"
echo "== both killed depots restart with every chunk they held"
start_depot "$busiest"
start_depot "$second"
for i in "$busiest" "$second"; do netlab_wait_listen "$i" "$PORT" 20 || fail "depot $i did not restart"; done
st=$(c0 offload status "$W/A.manifest" --timeout 3) || fail "status after the restarts: $st"
grep -q "recoverable: yes.*(fewest: 5)" <<<"$st" || fail "not every chunk is back: $st"
grep -q "depot $(netlab_ip "$busiest"):$PORT: up, holds \([0-9]*\) chunks of this offload (the manifest lists \1)" <<<"$st" ||
    fail "depot $busiest lost chunks: $st"
echo "   status: $(tail -1 <<<"$st")"

echo "== a depot killed in the middle of a push: its chunks go elsewhere"
mkdir "$W/srcC"
head -c $((12 << 20)) /dev/urandom >"$W/srcC/big.dat"
victim=3
before=$(find "$W/store$victim" -name '*.chunk' | wc -l)
(rc=0; c0 offload push "$W/srcC/big.dat" --manifest "$W/C.manifest" --key-file "$W/key" \
    "${DEPOTS[@]}" --chunk 256K --timeout 3 >"$W/pushC.out" 2>"$W/pushC.err" || rc=$?
    echo "$rc" >"$W/pushC.rc") &
PC=$!
cl_track_pid $PC
for _ in $(seq 200); do
    (( $(find "$W/store$victim" -name '*.chunk' | wc -l) >= before + 3 )) && break
    sleep 0.05
done
kill -KILL "${DPID[$victim]}"
held=$(( $(find "$W/store$victim" -name '*.chunk' | wc -l) - before ))
wait "$PC" || true
[[ $(cat "$W/pushC.rc") == 0 ]] || fail "push C exited $(cat "$W/pushC.rc"): $(tail -1 "$W/pushC.err")"
grep -q "depot $(netlab_ip "$victim"):$PORT: .*sending what it held again elsewhere" "$W/pushC.err" ||
    fail "push C did not say it re-sent the killed depot's chunks"
echo "   depot $victim killed holding $held chunks of C; $(cat "$W/pushC.out" | cut -c1-140)..."
mkdir "$W/outC"
c0 offload pull "$W/C.manifest" --out "$W/outC" --timeout 3 >"$W/pullC.out" 2>"$W/pullC.err" ||
    fail "pull C: $(tail -1 "$W/pullC.err")"
cmp "$W/srcC/big.dat" "$W/outC/big.dat" || fail "pull C: big.dat differs"
# what a SIGKILL left in its store is whole: no temporaries once restarted, every chunk matches its header
start_depot "$victim"
netlab_wait_listen "$victim" "$PORT" 20 || fail "depot $victim did not restart"
python3 - "$W/store$victim" <<'EOF2' || fail "a chunk in depot $victim's store is damaged"
import hashlib, os, sys
bad = 0
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        b = open(os.path.join(d, f), 'rb').read()
        if f.startswith('.tmp.'):
            print('leftover', f); bad += 1
        elif b[:8] != b'BLDEPOT1' or hashlib.sha256(b[40:]).digest() != b[8:40]:
            print('damaged', f); bad += 1
sys.exit(1 if bad else 0)
EOF2
echo "   pull C identical; depot $victim restarted: no temporaries, every chunk matches its checksum"

if grep -l "AddressSanitizer\|runtime error" "$W"/*.log "$W"/*.err 2>/dev/null; then
    fail "a sanitizer reported an error (files above)"
fi
echo "PASS"
