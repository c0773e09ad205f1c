#!/usr/bin/env bash
# t_mount_concurrent: eight processes reading the same files at once all get correct bytes.
#
# Node 0 seeds 4 files (two of 6 MiB, one of 1 MiB, one of 100 KiB; random bytes) over
# 100 Mbit/s links; nodes 1-3 mount them (file mode on 1, hybrid on 2, block on 3).  On each
# mount, eight processes start reading every file at the same moment, while the data is
# still arriving, so reads wait on the same pieces; every process's SHA-256 must match the
# original.  No read may be left waiting afterwards.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum
ml_init mount_concurrent

set_dir=$ML/set
mkdir -p "$set_dir/a/b"
head -c $((6 << 20)) /dev/urandom >"$set_dir/a/big1"
head -c $((6 << 20)) /dev/urandom >"$set_dir/a/b/big2"
head -c $((1 << 20)) /dev/urandom >"$set_dir/mid"
head -c 102400 /dev/urandom >"$set_dir/a/small"
files=(a/big1 a/b/big2 mid a/small)
(cd "$set_dir" && sha256sum "${files[@]}") >"$ML/want"
"$BITLIB" create -q -o "$ML/set.torrent" -p 256K "$set_dir"

netlab_up 4 100
ml_seed 0 "$ML/set.torrent" "$set_dir"
peer="$(netlab_ip 0):6881"
ml_mount 1 "$ML/set.torrent" "$ML/mnt1" --peer "$peer" --mode file
ml_mount 2 "$ML/set.torrent" "$ML/mnt2" --peer "$peer" --mode hybrid
ml_mount 3 "$ML/set.torrent" "$ML/mnt3" --peer "$peer" --mode block
for i in 1 2 3; do ml_wait "$ML/mnt$i" '.num_peers >= 1' 20; done

echo "== 8 readers per mount, 3 mounts, all at once"
pids=()
for i in 1 2 3; do
    for r in $(seq 8); do
        (cd "$ML/mnt$i" && timeout 90 sha256sum "${files[@]}" >"$ML/got.$i.$r") &
        pids+=($!)
    done
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
((failed == 0)) || ml_fail "$failed readers failed"
for i in 1 2 3; do
    for r in $(seq 8); do
        cmp -s "$ML/want" "$ML/got.$i.$r" || { diff "$ML/want" "$ML/got.$i.$r" || true; ml_fail "mount $i reader $r got wrong bytes"; }
    done
    st=$(ml_status "$ML/mnt$i")
    echo "   mount $i ($(jq -r .mode <<<"$st")): $(jq -c '{reads: .fuse.reads, waited: .fuse.reads_waited, hits: .fuse.cache_hits, waiting: .reads_waiting, down: .bytes_downloaded}' <<<"$st")"
    jq -e '.reads_waiting == 0 and .fuse.read_timeouts == 0 and .fuse.read_errors == 0' <<<"$st" >/dev/null ||
        ml_fail "mount $i: reads left waiting or failed"
done
jq -e '.fuse.reads_waited > 0' <<<"$(ml_status "$ML/mnt1")" >/dev/null || ml_fail "no read ever waited: the test did not test waiting"
for i in 1 2 3; do ml_umount "$ML/mnt$i"; done
echo "PASS: 24 readers, every byte right"
