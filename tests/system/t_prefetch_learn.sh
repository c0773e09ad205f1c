#!/usr/bin/env bash
# t_prefetch_learn: the first job teaches, later jobs run as hybrid (issue 15, item 3).
#
# Node 0 seeds a set of 40 files (16 KiB pieces), with no prefetch list.
#   1. Nodes 1 and 2 mount it in file mode with --learn, and each "job" opens a few files
#      in its own order (node 2 with ELF read-ahead off, so only opens count).  The trace
#      follows the opens within about a second; bitlib status --opened prints the same
#      list; at unmount the trace is complete.
#   2. bitlib prefetch learn merges the two traces into the description's prefetch list:
#      the info-hash is unchanged, the list is the merged order, a path the set does not
#      hold is skipped and counted, a bad trace gets one line naming the file and line.
#   3. Node 3 mounts the learned description in hybrid mode: the learned files become local
#      at mount without any open, and nothing else (bytes downloaded = their sizes).
#   4. A signed description: learning without --sign says the output is unsigned; with
#      --sign the output verifies and keeps the info-hash.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_init prefetch_learn

mkdir -p "$ML/set/lib" "$ML/set/py"
for i in $(seq 1 20); do head -c $((20000 + i * 1000)) /dev/urandom >"$ML/set/lib/f$i.so"; done
for i in $(seq 1 20); do head -c $((5000 + i * 100)) /dev/urandom >"$ML/set/py/m$i.py"; done
"$BITLIB" create -q -p 16K -o "$ML/set.torrent" "$ML/set"
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
netlab_up 4 100
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"

echo "== 1. two jobs in file mode, each with --learn"
m1=$ML/mnt1 m2=$ML/mnt2
ml_mount 1 "$ML/set.torrent" "$m1" --peer "$peer" --mode file --learn "$ML/trace1"
ml_mount 2 "$ML/set.torrent" "$m2" --peer "$peer" --mode file --learn "$ML/trace2" \
    --no-elf-readahead
[[ -f "$ML/trace1" && ! -s "$ML/trace1" ]] || ml_fail "--learn did not start an empty trace"
[[ $(ml_num "$m1" .learn) == "$ML/trace1" ]] || ml_fail "status does not name the trace"
order1="py/m3.py lib/f7.so lib/f2.so py/m1.py lib/f9.so"
order2="lib/f7.so py/m3.py lib/f5.so lib/f2.so"
for f in $order1 lib/f7.so; do cat "$m1/$f" >/dev/null; done # f7 again: first opens only
for f in $order2; do cat "$m2/$f" >/dev/null; done
want1=$(tr ' ' '\n' <<<"$order1")
[[ "$("$BITLIB" status "$m1" --opened)" == "$want1" ]] ||
    ml_fail "status --opened: $("$BITLIB" status "$m1" --opened | tr '\n' ' ')"
for _ in $(seq 30); do [[ "$(cat "$ML/trace1")" == "$want1" ]] && break; sleep 0.1; done
[[ "$(cat "$ML/trace1")" == "$want1" ]] || ml_fail "trace1 did not follow the opens within 3 s"
"$BITLIB" status "$m1" --opened --json | jq -e '.ok and (.opened | length == 5)' >/dev/null ||
    ml_fail "status --opened --json"
ml_umount "$m1"
ml_umount "$m2"
[[ "$(cat "$ML/trace2")" == "$(tr ' ' '\n' <<<"$order2")" ]] || ml_fail "trace2: $(cat "$ML/trace2")"
echo "   trace1: $(tr '\n' ' ' <"$ML/trace1")"
echo "   trace2: $(tr '\n' ' ' <"$ML/trace2")"

echo "== 2. bitlib prefetch learn"
printf 'no/such/file\n' >"$ML/trace3"
out=$("$BITLIB" prefetch learn "$ML/set.torrent" "$ML/trace1" "$ML/trace2" "$ML/trace3" \
    -o "$ML/learned.torrent")
echo "   $out"
[[ "$out" == *"prefetch list of 6 files (6 learned from 3 traces, 1 paths not in the set skipped)"* ]] ||
    ml_fail "summary: $out"
[[ $("$BITLIB" inspect --json "$ML/learned.torrent" | jq -r .info_hash) == "$ih" ]] ||
    ml_fail "the info-hash changed"
list=$("$BITLIB" inspect --json "$ML/learned.torrent" | jq -r '.prefetch | join(" ")')
# mean positions: m3 (0+.25)/2, f7 (.2+0)/2 -> f7 .1, m3 .125; f2 (.4+.75)/2 .575; f5 .5;
# m1 .6; f9 .8
[[ "$list" == "lib/f7.so py/m3.py lib/f5.so lib/f2.so py/m1.py lib/f9.so" ]] ||
    ml_fail "learned list: $list"
echo "   prefetch: $list"
head -c 5000 /dev/zero | tr '\0' 'x' >"$ML/bad"
err=$("$BITLIB" prefetch learn "$ML/set.torrent" "$ML/bad" -o "$ML/x.torrent" 2>&1) &&
    ml_fail "an over-long trace line was accepted"
[[ "$err" == *"$ML/bad:1: line longer than 4096 bytes"* && $(wc -l <<<"$err") == 1 ]] ||
    ml_fail "bad trace: $err"
err=$("$BITLIB" prefetch learn "$ML/set.torrent" "$ML/none" -o "$ML/x.torrent" 2>&1) &&
    ml_fail "a missing trace was accepted"
[[ "$err" == *"trace $ML/none: No such file or directory"* ]] || ml_fail "missing trace: $err"
[[ ! -e "$ML/x.torrent" ]] || ml_fail "a failed learn wrote its output"

echo "== 3. the next job, hybrid mode, prefetches what the first ones opened"
m3=$ML/mnt3
ml_mount 3 "$ML/learned.torrent" "$m3" --peer "$peer"
ml_wait "$m3" '.queue.prefetch == 0 and .queue.opened == 0 and .queue.deadline == 0' 30
sum=0
for f in $list; do sum=$((sum + $(stat -c %s "$ML/set/$f"))); done
got=$(ml_num "$m3" .bytes_downloaded)
opens=$(ml_num "$m3" .fuse.opens)
echo "   downloaded $got bytes at mount (the learned files: $sum bytes), $opens opens"
((opens == 0)) || ml_fail "something opened files"
((got >= sum && got < sum + 12 * 16384)) || ml_fail "downloaded $got bytes, learned files are $sum"
for f in $list; do cmp "$ML/set/$f" "$m3/$f" || ml_fail "$f differs"; done
[[ $(ml_num "$m3" .bytes_downloaded) == "$got" ]] || ml_fail "reading the learned files fetched more"
ml_umount "$m3"

echo "== 4. signed descriptions"
"$BITLIB" keygen -o "$ML/key" >/dev/null
"$BITLIB" sign "$ML/set.torrent" --key "$ML/key" -o "$ML/signed.torrent" -q
err=$("$BITLIB" prefetch learn "$ML/signed.torrent" "$ML/trace1" -o "$ML/l1.torrent" -q 2>&1) ||
    ml_fail "learn from a signed description: $err"
[[ "$err" == *"was signed and $ML/l1.torrent is not"* ]] || ml_fail "no warning: $err"
"$BITLIB" verify "$ML/l1.torrent" --trust "$ML/key.pub" >/dev/null 2>&1 &&
    ml_fail "the unsigned output verifies"
"$BITLIB" prefetch learn "$ML/signed.torrent" "$ML/trace1" -o "$ML/l2.torrent" -q \
    --sign "$ML/key" || ml_fail "learn --sign"
"$BITLIB" verify "$ML/l2.torrent" --trust "$ML/key.pub" >/dev/null || ml_fail "--sign output does not verify"
[[ $("$BITLIB" inspect --json "$ML/l2.torrent" | jq -r .info_hash) == "$ih" ]] ||
    ml_fail "the info-hash changed"
echo "   unsigned output warned; --sign output verifies"
echo "PASS"
