#!/usr/bin/env bash
# t_fault_seed_altered: a seeder whose copy is altered on disk while it serves never sends
# the altered bytes (issue 13, part 4).
#
# Node 0 seeds 8 files of 1 MiB over a 16 Mbit/s link.
#   1. During a fetch by node 1, one file of the seeder's copy is overwritten.  The seeder
#      notices before it sends another byte of it (store.c's guard: one fstat per sendfile),
#      logs it, stops serving the pieces that no longer match and reconnects its peers; the
#      fetch receives every other file, never a piece failing its hash (hash_failures 0),
#      and the altered file's pieces it holds are the original bytes (every 16 KiB chunk is
#      either the original or not there yet).  With the file restored and the seeder
#      restarted, a second fetch into the same directory completes, downloading only what was
#      missing: every file is identical to the original.
#   2. Through a mount (node 2, file mode, --read-timeout 4): 64 KiB in the middle of a file
#      are altered on the seeder; reading that file fails with EIO after the timeout (the log
#      names the file and piece), the part before the alteration reads as the original, other
#      files read right, and the mount saw no hash failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
PY=/usr/bin/python3
ml_require cmp "$PY"
ml_init fault_seed_altered

mkdir -p "$ML/set"
for i in 1 2 3 4 5 6 7 8; do head -c $((1 << 20)) /dev/urandom >"$ML/set/lib$i.so"; done
"$BITLIB" create -q -o "$ML/set.torrent" "$ML/set"
cp -a "$ML/set" "$ML/seedcopy"
netlab_up 3 16
seed() { # start (or restart) the seeder of $ML/seedcopy in node 0
    netlab_spawn 0 "$ML/seed-0.log" "$BITLIB" seed "$ML/set.torrent" "$ML/seedcopy" \
        --listen "$(netlab_ip 0):6881" --no-tracker >/dev/null
    SEED_PID=$NETLAB_LAST_PID
    netlab_wait_listen 0 6881 30
}
seed
peer="$(netlab_ip 0):6881"
pieces=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .pieces)

# chunks_ok FILE ORIG: every 16 KiB chunk of FILE is ORIG's or zeros (not fetched); prints
# how many are the original's
chunks_ok() {
    "$PY" - "$1" "$2" <<'PY'
import sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
assert len(a) == len(b), "length differs"
good = 0
for k in range(0, len(b), 16384):
    x, y = a[k:k + 16384], b[k:k + 16384]
    if x == y: good += 1
    elif x.count(0) != len(x): sys.exit("chunk at %d is neither the original nor empty" % k)
print(good)
PY
}

echo "== 1. the seeder's copy of lib8.so is overwritten during a fetch"
netlab_spawn 1 "$ML/fetch-1.log" "$BITLIB" fetch "$ML/set.torrent" "$ML/fetch1" --peer "$peer" \
    --no-tracker --json --stall-timeout 4 -q >/dev/null
fetch_pid=$NETLAB_LAST_PID
for _ in $(seq 100); do
    had=$("$BITLIB" status "$ML/fetch1" --json 2>/dev/null | jq -r '.pieces_had // 0') || had=0
    ((had >= pieces / 4)) && break
    sleep 0.1
done
echo "   fetch has $had of $pieces pieces; overwriting lib8.so on the seeder"
head -c $((1 << 20)) /dev/urandom | dd of="$ML/seedcopy/lib8.so" conv=notrunc status=none
for _ in $(seq 300); do netlab_alive "$fetch_pid" || break; sleep 0.1; done
netlab_alive "$fetch_pid" && ml_fail "the fetch did not end"
wait "$fetch_pid" 2>/dev/null && ml_fail "the fetch says it completed"
res=$(grep '^{' "$ML/fetch-1.log" | tail -1)
echo "   fetch: $(jq -c '{complete, pieces_had, pieces_total, hash_failures, bytes_downloaded}' <<<"$res")"
[[ $(jq -r .hash_failures <<<"$res") == 0 ]] || ml_fail "the fetch received altered bytes"
line=$(grep "lib8.so' changed on disk while being served" "$ML/seed-0.log" | head -1) ||
    ml_fail "the seeder did not notice"
echo "   seed: ${line#* WARN }"
lost=$("$BITLIB" status "$ML/seedcopy" --json | jq -r .pieces_changed_on_disk)
((lost > 0)) || ml_fail "pieces_changed_on_disk is $lost"
for i in 1 2 3 4 5 6 7; do cmp "$ML/set/lib$i.so" "$ML/fetch1/lib$i.so" || ml_fail "lib$i.so differs"; done
good=$(chunks_ok "$ML/fetch1/lib8.so" "$ML/set/lib8.so") || ml_fail "lib8.so: $good"
echo "   lib1..7 identical; lib8.so: $good of 64 chunks fetched before the change, all original"

echo "== the file is restored, the seeder restarted: a second fetch completes"
cp "$ML/set/lib8.so" "$ML/seedcopy/lib8.so"
kill -TERM "$SEED_PID"
for _ in $(seq 50); do netlab_alive "$SEED_PID" || break; sleep 0.1; done
seed
res=$(netlab_exec 1 timeout 40 "$BITLIB" fetch "$ML/set.torrent" "$ML/fetch1" --peer "$peer" \
    --no-tracker --json -q) || ml_fail "the second fetch failed"
down=$(jq -r .bytes_downloaded <<<"$res")
echo "   second fetch: $(jq -c '{complete, hash_failures, bytes_downloaded}' <<<"$res")"
((down <= (1 << 20))) || ml_fail "the second fetch downloaded $down bytes: more than what was missing"
for i in 1 2 3 4 5 6 7 8; do cmp "$ML/set/lib$i.so" "$ML/fetch1/lib$i.so" || ml_fail "lib$i.so differs"; done

echo "== 2. through a mount: 64 KiB of lib2.so altered on the seeder"
m=$ML/mnt2
ml_mount 2 "$ML/set.torrent" "$m" --peer "$peer" --mode file --read-timeout 4
cmp "$ML/set/lib1.so" "$m/lib1.so" || ml_fail "lib1.so reads wrong"
head -c 65536 /dev/urandom | dd of="$ML/seedcopy/lib2.so" bs=65536 seek=8 conv=notrunc status=none
t0=$(date +%s%N)
if err=$(timeout 30 cat "$m/lib2.so" 2>&1 >/dev/null); then ml_fail "reading the altered file succeeded"; fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   cat lib2.so: '$err' after $ms ms"
[[ $err == *"Input/output error"* ]] || ml_fail "expected EIO"
grep -q "read of lib2.so .* did not arrive within 4 s (none of the 1 connected peers has it)" \
    "$ML/mount-2.log" || ml_fail "no log line naming the file and why"
cmp <(head -c 524288 "$ML/set/lib2.so") <(dd if="$m/lib2.so" bs=65536 count=8 status=none) ||
    ml_fail "the part of lib2.so before the change reads wrong"
cmp "$ML/set/lib3.so" "$m/lib3.so" || ml_fail "lib3.so reads wrong"
[[ $(ml_num "$m" .hash_failures) == 0 ]] || ml_fail "the mount received altered bytes"
echo "   the first 512 KiB and lib3.so read right; no hash failure"
ml_umount "$m"
echo "PASS"
