#!/usr/bin/env bash
# t_offload_pull_resume: a pull killed with SIGKILL mid-way and run again fetches only the
# rest (issue 12).  Five depots in netlab nodes 1..5, the puller in node 0, its download link
# shaped to 40 Mbit/s so a 16 MiB pull takes seconds.  The first pull is SIGKILLed after
# about 1.5 s; the second (--json) must report bytes_resumed > 0 and fetch fewer bytes than
# a whole pull, and the file must come back identical.  Run again once complete, it fetches
# nothing ("nothing to pull", already_there); with one byte of the file changed, it pulls
# again and restores it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/netlab.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in jq cmp; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
(( EUID == 0 )) || { echo "SKIP: needs root (network namespaces)"; exit 77; }
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_offload_resume.XXXXXX")
cl_track_dir "$W"
export NETLAB_PREFIX=pr$$ NETLAB_NET=10.83.$(( $$ % 200 + 20 ))
fail() { echo "FAIL: $*"; for f in "$W"/*.err; do [[ -s $f ]] && { echo "--- $f"; tail -5 "$f"; }; done; exit 1; }
PORT=27400
head -c 32 /dev/urandom | base64 >"$W/key"; chmod 600 "$W/key"
head -c $((16 << 20)) /dev/urandom >"$W/big.dat"
netlab_up 6
DEPOTS=()
for i in 1 2 3 4 5; do
    netlab_spawn "$i" "$W/depot$i.log" "$BITLIB" depot --store "$W/store$i" --capacity 64M \
        --listen "$(netlab_ip "$i"):$PORT" --key-file "$W/key" >/dev/null
    DEPOTS+=(--depot "$(netlab_ip "$i"):$PORT")
done
for i in 1 2 3 4 5; do netlab_wait_listen "$i" "$PORT" 20 || fail "depot $i did not start"; done
netlab_exec 0 "$BITLIB" offload push "$W/big.dat" --manifest "$W/m" --key-file "$W/key" --chunk 256K \
    "${DEPOTS[@]}" -q >"$W/push.out" 2>"$W/push.err" || fail "push"
tc -n "$(netlab_hub_ns)" qdisc replace dev p0 root tbf rate 40mbit burst 128kb latency 50ms
mkdir "$W/out"
echo "== a pull SIGKILLed mid-way"
netlab_spawn 0 "$W/pull1.err" "$BITLIB" offload pull "$W/m" --out "$W/out" >/dev/null
P=$NETLAB_LAST_PID
sleep 1.5
netlab_alive "$P" || fail "the first pull ended before it was killed (link not slow enough)"
kill -KILL "$P"
for _ in $(seq 50); do netlab_alive "$P" || break; sleep 0.1; done
[[ ! -e $W/out/big.dat && -e $W/out/.big.dat.bitlib-pull ]] || fail "after the kill: $(ls -A "$W/out")"
echo "== run again: only the rest is fetched"
netlab_exec 0 "$BITLIB" offload pull "$W/m" --out "$W/out" --json >"$W/pull2.json" 2>"$W/pull2.err" ||
    fail "second pull: $(tail -1 "$W/pull2.err")"
cmp "$W/big.dat" "$W/out/big.dat" || fail "big.dat differs"
fetched=$(jq -r .bytes_fetched "$W/pull2.json") resumed=$(jq -r .bytes_resumed "$W/pull2.json")
total=$((16 << 20))
echo "   resumed $resumed bytes from disk, fetched $fetched of $total"
(( resumed > 0 )) || fail "nothing was resumed: $(cat "$W/pull2.json")"
(( fetched < total )) || fail "fetched $fetched, a whole pull is $total"
(( fetched + resumed <= total + (1 << 20) )) || fail "fetched $fetched + resumed $resumed > total"
[[ -z $(find "$W/out" -name '.*') ]] || fail "temporaries left"
echo "== run again after it completed: nothing is fetched"
netlab_exec 0 "$BITLIB" offload pull "$W/m" --out "$W/out" --json >"$W/pull3.json" 2>"$W/pull3.err" ||
    fail "third pull: $(tail -1 "$W/pull3.err")"
[[ $(jq -r '.already_there, .bytes_fetched' "$W/pull3.json" | tr '\n' ' ') == "true 0 " ]] ||
    fail "a complete pull run again fetched: $(cat "$W/pull3.json")"
out=$(netlab_exec 0 "$BITLIB" offload pull "$W/m" --out "$W/out") || fail "fourth pull"
[[ $out == "nothing to pull: 1 file, $total bytes, in $W/out already, every one matching its SHA-256" ]] ||
    fail "fourth pull said: $out"
echo "   fetched 0 bytes; said: $out"
echo "== one byte of the pulled file changed: pulled again, restored"
printf 'X' | dd of="$W/out/big.dat" bs=1 seek=4096 conv=notrunc status=none
netlab_exec 0 "$BITLIB" offload pull "$W/m" --out "$W/out" --json >"$W/pull5.json" 2>"$W/pull5.err" ||
    fail "fifth pull: $(tail -1 "$W/pull5.err")"
[[ $(jq -r .already_there "$W/pull5.json") == false ]] || fail "a changed file was taken as pulled"
cmp "$W/big.dat" "$W/out/big.dat" || fail "big.dat was not restored"
echo "   fetched $(jq -r .bytes_fetched "$W/pull5.json") bytes; big.dat is the original again"
if grep -l "AddressSanitizer\|runtime error" "$W"/*.log "$W"/*.err 2>/dev/null; then fail "sanitizer"; fi
echo PASS
