#!/usr/bin/env bash
# t_cache_full: a cache on a file system that fills up is a local error, not a download
# loop (issue 10, defect 1).
#
# A 17 MiB set (16 KiB pieces, about 1000) is seeded by node 0.  Node 1 mounts it in hybrid
# mode with its cache on a 2 MiB tmpfs this test mounts: the prefetch list (1.3 MiB) fits,
# then the files read one after another fill the cache.  Reads that need pieces the cache
# cannot take fail at once with "No space left on device".  After 6 s: the node downloaded each piece at most about once (bytes_downloaded stays below
# twice the set, where the old code passed 3 GB in 10 s), status shows cache_error "No space
# left on device" and cache_write_errors, no hash failure, the seeder is still connected
# (nobody blamed), the log holds a handful of lines, not one per piece; a file that is not
# the files already local read right.  Then the tmpfs is grown (space returns): downloads resume by themselves, every piece
# arrives, every file is identical to the original.  Node 2 does the same in block mode on
# a 1 MiB tmpfs (the old code answered EIO and blamed the network), node 3 in bulk mode.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require cmp
ml_init cache_full

echo "== a 17 MiB set of 17 files"
mkdir -p "$ML/set"
for i in $(seq -w 1 16); do head -c $((1 << 20)) /dev/urandom >"$ML/set/lib$i.so"; done
head -c 300000 /dev/urandom >"$ML/set/small.so"
printf 'small.so\nlib01.so\n' >"$ML/prefetch"
"$BITLIB" create -q -o "$ML/set.torrent" --prefetch "$ML/prefetch" "$ML/set"
total=$(du -cb "$ML"/set/* | tail -1 | cut -f1)
pieces=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .pieces)
echo "   $total bytes in $pieces pieces"

tiny() { # DIR SIZE: a small tmpfs of our own
    mkdir -p "$1"
    cl_track_mount "$1"
    mount -t tmpfs -o "size=$2,mode=0755" bitlib-test-tiny "$1"
}
tiny "$ML/tiny1" 2m
tiny "$ML/tiny2" 1m
tiny "$ML/tiny3" 1m

netlab_up 4 1000
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"

echo "== node 1: hybrid mode, cache on a 2 MiB tmpfs; prefetch (1.3 MiB) fits, the rest not"
ml_mount 1 "$ML/set.torrent" "$ML/mnt1" --peer "$peer" --cache "$ML/tiny1/c"
ml_wait "$ML/mnt1" '.queue.prefetch == 0' 20
cmp "$ML/set/small.so" "$ML/mnt1/small.so" || ml_fail "small.so (prefetched) reads wrong"
first_fail=
for f in $(cd "$ML/set" && ls lib*.so); do
    t0=$(date +%s%N)
    if out=$(timeout 40 cat "$ML/mnt1/$f" 2>&1 >/dev/null); then continue; fi
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "   $f: '$out' after $ms ms"
    [[ $out == *"No space left on device"* ]] || ml_fail "the failed read does not say the cache is full"
    ((ms < 5000)) || ml_fail "the read took $ms ms: it should fail at once"
    [[ -n $first_fail ]] || first_fail=$f
done
[[ -n $first_fail ]] || ml_fail "every file fit in a 2 MiB cache?"
ml_wait "$ML/mnt1" '.cache_error != null' 20
sleep 6     # what the old code did in these seconds: re-fetch the same pieces, again and again
check_full() { # MP LOG: downloaded at most about once, shown in status, nobody blamed
    local st down lines
    st=$(ml_status "$1")
    jq -c '{pieces_had, pieces_total, bytes_downloaded, cache_write_errors, cache_error, hash_failures, num_peers}' <<<"$st"
    down=$(jq -r .bytes_downloaded <<<"$st")
    ((down < 2 * total)) || ml_fail "downloaded $down bytes for a $total-byte set: a download loop"
    [[ $(jq -r .cache_error <<<"$st") == "No space left on device" ]] || ml_fail "status does not say the cache is full"
    (($(jq -r .cache_write_errors <<<"$st") > 0)) || ml_fail "no write error counted"
    [[ $(jq -r .hash_failures <<<"$st") == 0 ]] || ml_fail "write errors counted as hash failures"
    (($(jq -r .num_peers <<<"$st") >= 1)) || ml_fail "the seeder was dropped (blamed for a local error)"
    lines=$(grep -c "No space left" "$2" || true)
    echo "   $lines log lines mention the full cache"
    ((lines <= 10)) || ml_fail "$lines log lines about the full cache"
    grep -E "did not arrive|no connected peer|failed its hash check" "$2" && ml_fail "the log blames the network"
    "$BITLIB" status "$1" | grep "CANNOT STORE" || ml_fail "human status does not show it"
}
check_full "$ML/mnt1" "$ML/mount-1.log"
for f in small.so lib01.so; do cmp "$ML/set/$f" "$ML/mnt1/$f" || ml_fail "local file $f reads wrong"; done
echo "   the files already local (small.so, lib01.so) still read right"

echo "== space returns (the tmpfs grows to 64 MiB): downloads resume by themselves"
mount -o remount,size=64m "$ML/tiny1"
ml_wait "$ML/mnt1" ".pieces_had == $pieces and .cache_error == null" 60
for f in $(cd "$ML/set" && ls); do cmp "$ML/set/$f" "$ML/mnt1/$f" || ml_fail "$f differs after space returned"; done
echo "   all $pieces pieces, every file identical; downloaded $(ml_num "$ML/mnt1" .bytes_downloaded) bytes in all"

echo "== node 2: block mode, cache on a 1 MiB tmpfs"
ml_mount 2 "$ML/set.torrent" "$ML/mnt2" --peer "$peer" --mode block --cache "$ML/tiny2/c" --read-timeout 30
failed=
for f in $(cd "$ML/set" && ls lib*.so); do
    t0=$(date +%s%N)
    if ! out=$(timeout 40 cat "$ML/mnt2/$f" 2>&1 >/dev/null); then
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        echo "   $f: '$out' after $ms ms"
        [[ $out == *"No space left on device"* ]] || ml_fail "block-mode read error does not say the cache is full"
        ((ms < 5000)) || ml_fail "the failing read took $ms ms"
        failed=$f
        break
    fi
done
[[ -n $failed ]] || ml_fail "every read succeeded on a 1 MiB cache?"
check_full "$ML/mnt2" "$ML/mount-2.log"

echo "== node 3: bulk mode, cache on a 1 MiB tmpfs (every piece wanted at once)"
ml_mount 3 "$ML/set.torrent" "$ML/mnt3" --peer "$peer" --mode bulk --cache "$ML/tiny3/c"
ml_wait "$ML/mnt3" '.cache_error != null' 20
sleep 6
check_full "$ML/mnt3" "$ML/mount-3.log"
ml_umount "$ML/mnt1"
ml_umount "$ML/mnt2"
ml_umount "$ML/mnt3"
echo "PASS"
