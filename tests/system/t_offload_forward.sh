#!/usr/bin/env bash
# t_offload_forward: `bitlib offload forward` copies an offload's chunks from the depots the
# center pushed to (Level 1) to a depot near the user (Level 2), and the manifest learns it
# (issue 12).  Netlab node 0 is the center and the user; depots in nodes 1..4, node 5 is a
# would-be Level-2 depot that is not running.
#   - a 6 MiB offload is pushed to depots 1 and 2 only (RS 4:5); forwarded 1 -> 3 and
#     2 -> 4 at the same time: the manifest, rewritten by both and still valid under the key,
#     lists depot 3 and depot 4 for every chunk each holds (neither forward loses the
#     other's entries); status counts them
#   - depots 1 and 2 SIGKILLed: the offload pulls back identical from depots 3 and 4
#   - mistakes, each one line, the manifest unchanged: the wrong key, --from = --to, a
#     target that is down, a missing --to, --from on another subcommand
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/netlab.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in cmp; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
(( EUID == 0 )) || { echo "SKIP: needs root (network namespaces)"; exit 77; }
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_offload_forward.XXXXXX")
cl_track_dir "$W"
export NETLAB_PREFIX=${NETLAB_PREFIX:-ofw$$} NETLAB_NET=${NETLAB_NET:-10.81.$(( $$ % 200 + 20 ))}
fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log "$W"/*.err; do [[ -s $f ]] && { echo "--- $f"; tail -6 "$f"; }; done
    exit 1
}
PORT=27200
head -c 32 /dev/urandom | base64 >"$W/key"
head -c 32 /dev/urandom | base64 >"$W/otherkey"
chmod 600 "$W/key" "$W/otherkey"
mkdir "$W/src" "$W/out"
head -c $((6 << 20)) /dev/urandom >"$W/src/result.h5"
netlab_up 6 100
declare -a DPID
for i in 1 2 3 4; do
    DPID[$i]=$(netlab_spawn "$i" "$W/depot$i.log" "$BITLIB" depot --store "$W/store$i" --capacity 64M \
        --listen "$(netlab_ip "$i"):$PORT" --key-file "$W/key")
done
for i in 1 2 3 4; do netlab_wait_listen "$i" "$PORT" 20 || fail "depot $i did not start"; done
d() { echo "$(netlab_ip "$1"):$PORT"; }
c0() { netlab_exec 0 "$BITLIB" "$@"; }

echo "== push to depots 1 and 2"
c0 offload push "$W/src/result.h5" --manifest "$W/m" --key-file "$W/key" --chunk 256K \
    --depot "$(d 1)" --depot "$(d 2)" -q >"$W/push.out" 2>"$W/push.err" || true
[[ -s $W/m ]] || fail "push wrote no manifest: $(cat "$W/push.err")"
echo "   $(tail -1 "$W/push.out")"

echo "== forward 1 -> 3 and 2 -> 4, both at once"
FW=()
for i in 1 2; do
    (c0 offload forward "$W/m" --key-file "$W/key" --from "$(d "$i")" --to "$(d $((i + 2)))" \
        >"$W/fwd$i.out" 2>"$W/fwd$i.err"; echo $? >"$W/fwd$i.rc") &
    FW+=($!)
    cl_track_pid $!
done
wait "${FW[@]}"
for i in 1 2; do
    out=$(cat "$W/fwd$i.out")
    [[ $(cat "$W/fwd$i.rc") == 0 ]] || fail "forward $i -> $((i + 2)): $(cat "$W/fwd$i.err")"
    echo "   $out"
    [[ $out =~ ^forwarded\ ([0-9]+)\ chunks\ from ]] && (( BASH_REMATCH[1] > 0 )) || fail "forward $i said: $out"
done
st=$(c0 offload status "$W/m" --key-file "$W/key") || fail "status after the forwards: $st"
n3=0 n4=0 n1=0 n2=0
for i in 1 2 3 4; do
    line=$(grep "^depot $(d "$i"): up, holds" <<<"$st") || fail "status has no line for depot $i: $st"
    [[ $line =~ holds\ ([0-9]+)\ chunks\ of\ this\ offload\ \(the\ manifest\ lists\ ([0-9]+)\) ]] || fail "status: $line"
    [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] || fail "depot $i holds ${BASH_REMATCH[1]}, the manifest lists ${BASH_REMATCH[2]}"
    declare "n$i=${BASH_REMATCH[1]}"
    echo "   $line"
done
(( n3 == n1 && n4 == n2 && n3 + n4 == 30 )) || fail "depots 3 and 4 hold $n3 + $n4 chunks, not depot 1's $n1 + depot 2's $n2 (30)"

echo "== depots 1 and 2 killed: the pull comes from depots 3 and 4"
kill -KILL "${DPID[1]}" "${DPID[2]}"
for i in 1 2; do for _ in $(seq 50); do netlab_alive "${DPID[$i]}" || break; sleep 0.1; done; done
c0 offload pull "$W/m" --out "$W/out" --key-file "$W/key" >"$W/pull.out" 2>"$W/pull.err" ||
    fail "pull from depots 3 and 4: $(cat "$W/pull.err")"
cmp "$W/src/result.h5" "$W/out/result.h5" || fail "result.h5 differs"
echo "   $(tail -1 "$W/pull.out")"

echo "== mistakes: one line each, the manifest unchanged"
cp "$W/m" "$W/m.before"
expect() {   # RC TEXT ARGS...
    local want=$1 text=$2 rc=0
    shift 2
    c0 "$@" >"$W/x.out" 2>"$W/x.err" || rc=$?
    (( rc == want )) || fail "$* exited $rc, not $want: $(cat "$W/x.err")"
    (( $(wc -l <"$W/x.err") == 1 )) && grep -qF -- "$text" "$W/x.err" || fail "$*: said: $(cat "$W/x.err")"
    cmp -s "$W/m" "$W/m.before" || fail "$* changed the manifest"
    echo "   $(cat "$W/x.err")"
}
expect 1 "signature does not match the offload key" offload forward "$W/m" --key-file "$W/otherkey" --from "$(d 3)" --to "$(d 5)"
expect 1 "--from and --to name the same depot" offload forward "$W/m" --key-file "$W/key" --from "$(d 3)" --to "$(d 3)"
expect 1 "depot $(d 5)" offload forward "$W/m" --key-file "$W/key" --from "$(d 3)" --to "$(d 5)" --timeout 3
expect 2 "needs MANIFEST, --key-file, --from and --to" offload forward "$W/m" --key-file "$W/key" --from "$(d 3)"
expect 2 "--from is an option of 'bitlib offload forward' only" offload status "$W/m" --from "$(d 3)"
if grep -l "AddressSanitizer\|runtime error" "$W"/*.log "$W"/*.err 2>/dev/null; then fail "sanitizer"; fi
echo PASS
