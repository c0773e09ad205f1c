#!/usr/bin/env bash
# t_fault_nodes_kill: a quarter of the nodes die in the middle of a job (issue 13, part 4).
#
# Node 0 seeds 6 MiB (6 files); nodes 1..8 have 10 Mbit/s links, mount the set in file
# mode and read every file through their mounts at once; when the swarm is about 40% done,
# nodes 7 and 8 get SIGKILL.  The other six finish (from the seeder and each other), every
# reader gets the original bytes (SHA-256 of what it read), no piece fails its hash; the
# killed nodes' readers end with an error instead of hanging; node 8 mounted again over its
# stale mount recovers with the pieces it had (a warm cache: it downloads less than the
# set).  The seeder dying: t_fault_seeder_kill.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum
ml_init fault_nodes_kill

s=B
mkdir -p "$ML/set$s"
for i in 1 2 3 4 5 6; do head -c $((1 << 20)) /dev/urandom >"$ML/set$s/lib$i.so"; done
"$BITLIB" create -q -o "$ML/$s.torrent" "$ML/set$s"
(cd "$ML/set$s" && sha256sum lib*.so) >"$ML/$s.sums"
pieces=$("$BITLIB" inspect --json "$ML/B.torrent" | jq -r .pieces)
netlab_up 9 10
ip0=$(netlab_ip 0)
netlab_spawn 0 "$ML/seed-B.log" "$BITLIB" seed "$ML/B.torrent" "$ML/setB" --listen "$ip0:6882" --no-tracker >/dev/null
netlab_wait_listen 0 6882 30

# readers MP OUT: sha256sum of every file through the mount, in the background
READERS=()
readers() {
    (rc=0; cd "$1" && timeout 50 sha256sum lib*.so >"$2" 2>"$2.err" || rc=$?; echo "$rc" >"$2.rc") &
    READERS+=($!)
    cl_track_pid "$!"
}
wait_readers() { local p; for p in "${READERS[@]}"; do wait "$p" 2>/dev/null || true; done; READERS=(); }
avg_done() { # SET NODES...: sum of pieces_had over the nodes' mounts
    local set=$1 i sum=0 n
    shift
    for i in "$@"; do n=$(ml_num "$ML/$set$i" .pieces_had 2>/dev/null) || n=0; sum=$((sum + n)); done
    echo "$sum"
}

echo "== eight nodes mount set B and read it; two of them are killed at ~40%"
for i in 1 2 3 4 5 6 7 8; do
    ml_mount "$i" "$ML/B.torrent" "$ML/B$i" --peer "$ip0:6882" --mode file --cache "$ML/cacheB-$i" \
        --read-timeout 40
done
for i in 1 2 3 4 5 6 7 8; do readers "$ML/B$i" "$ML/readB-$i"; done
for _ in $(seq 300); do (( $(avg_done B 1 2 3 4 5 6 7 8) >= 8 * pieces * 4 / 10 )) && break; sleep 0.1; done
echo "   swarm at $(( $(avg_done B 1 2 3 4 5 6 7 8) * 100 / (8 * pieces) ))%: SIGKILL nodes 7 and 8"
had8=$(ml_num "$ML/B8" .pieces_had)
kill -KILL "${ML_PIDS[6]}" "${ML_PIDS[7]}"
wait_readers
for i in 1 2 3 4 5 6; do
    [[ $(cat "$ML/readB-$i.rc") == 0 ]] || ml_fail "node $i: reader failed: $(cat "$ML/readB-$i.err")"
    cmp -s "$ML/B.sums" "$ML/readB-$i" || ml_fail "node $i read different bytes"
    st=$(ml_status "$ML/B$i")
    jq -e ".pieces_had == $pieces and .hash_failures == 0" <<<"$st" >/dev/null ||
        ml_fail "node $i: $(jq -c '{pieces_had, hash_failures}' <<<"$st")"
done
for i in 7 8; do
    [[ $(cat "$ML/readB-$i.rc") != 0 ]] || ml_fail "node $i's reader succeeded on a killed mount"
    [[ $(cat "$ML/readB-$i.rc") != 124 ]] || ml_fail "node $i's reader hung until the timeout"
done
echo "   nodes 1..6: complete, every reader read the original bytes; nodes 7, 8: readers got '$(head -1 "$ML/readB-8.err" | sed 's/.*: //')'"
ml_mount 8 "$ML/B.torrent" "$ML/B8" --peer "$ip0:6882" --peer "$(netlab_ip 1):6881" --mode bulk --cache "$ML/cacheB-8" 2>"$ML/remount.err"
grep -q "detached a stale FUSE mount" "$ML/remount.err" || ml_fail "no stale mount detached: $(cat "$ML/remount.err")"
ml_wait "$ML/B8" ".pieces_had == $pieces" 30
(cd "$ML/B8" && sha256sum lib*.so) | cmp -s "$ML/B.sums" - || ml_fail "node 8 reads different bytes after remounting"
down=$(ml_num "$ML/B8" .bytes_downloaded)
echo "   node 8 remounted: had $had8 pieces when killed, downloaded $down bytes more"
((down < 6 << 20)) || ml_fail "node 8 downloaded the whole set again ($down bytes): its cache was lost"
for i in 1 2 3 4 5 6 8; do ml_umount "$ML/B$i"; done

echo "PASS"
