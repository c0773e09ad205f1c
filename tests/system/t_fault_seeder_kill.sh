#!/usr/bin/env bash
# t_fault_seeder_kill: the seeder dies once half the nodes are done (issue 13, part 4).
#
# Node 0 seeds 6 MiB (6 files); nodes 1..8 have 10 Mbit/s links.  Nodes 1..4 fetch the set
# (and keep serving); once they are complete, nodes 5..8 mount it in file mode and read
# every file through their mounts, and the seeder gets SIGKILL.  The four finish from nodes
# 1..4, every reader gets the original bytes (SHA-256 of what it read), no piece fails its
# hash.  When no peer holds the data any more, reads fail with EIO after the timeout and
# the log says why: t_mount_faults.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum
ml_init fault_seeder_kill

s=A
mkdir -p "$ML/set$s"
for i in 1 2 3 4 5 6; do head -c $((1 << 20)) /dev/urandom >"$ML/set$s/lib$i.so"; done
"$BITLIB" create -q -o "$ML/$s.torrent" "$ML/set$s"
(cd "$ML/set$s" && sha256sum lib*.so) >"$ML/$s.sums"
pieces=$("$BITLIB" inspect --json "$ML/A.torrent" | jq -r .pieces)
netlab_up 9 10
ip0=$(netlab_ip 0)
netlab_spawn 0 "$ML/seed-A.log" "$BITLIB" seed "$ML/A.torrent" "$ML/setA" --listen "$ip0:6881" --no-tracker >/dev/null
seedA=$NETLAB_LAST_PID
netlab_wait_listen 0 6881 30

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

echo "== nodes 1..4 fetch set A; when they are done the seeder dies, nodes 5..8 mount"
FETCHES=()
for i in 1 2 3 4; do
    netlab_spawn "$i" "$ML/fetchA-$i.log" "$BITLIB" fetch "$ML/A.torrent" "$ML/fetchA$i" --peer "$ip0:6881" \
        --listen "$(netlab_ip "$i"):6883" --no-tracker --keep-serving -q >/dev/null
    FETCHES+=("$NETLAB_LAST_PID")
done
for i in 1 2 3 4; do
    for _ in $(seq 300); do
        [[ $("$BITLIB" status "$ML/fetchA$i" --json 2>/dev/null | jq -r .complete) == true ]] && break
        sleep 0.1
    done
    (cd "$ML/fetchA$i" && sha256sum lib*.so) | cmp -s "$ML/A.sums" - || ml_fail "fetch $i is not complete and identical"
done
peers=(--peer "$ip0:6881")
for i in 1 2 3 4; do peers+=(--peer "$(netlab_ip "$i"):6883"); done
for i in 5 6 7 8; do
    ml_mount "$i" "$ML/A.torrent" "$ML/A$i" "${peers[@]}" --mode file --cache "$ML/cacheA-$i" --read-timeout 40
done
for i in 5 6 7 8; do readers "$ML/A$i" "$ML/readA-$i"; done
echo "   nodes 1..4 done, nodes 5..8 at $(( $(avg_done A 5 6 7 8) * 100 / (4 * pieces) ))%: SIGKILL the seeder"
kill -KILL "$seedA"
wait_readers
for i in 5 6 7 8; do
    [[ $(cat "$ML/readA-$i.rc") == 0 ]] || ml_fail "node $i: reader failed: $(cat "$ML/readA-$i.err")"
    cmp -s "$ML/A.sums" "$ML/readA-$i" || ml_fail "node $i read different bytes"
    st=$(ml_status "$ML/A$i")
    jq -e ".pieces_had == $pieces and .hash_failures == 0" <<<"$st" >/dev/null ||
        ml_fail "node $i: $(jq -c '{pieces_had, hash_failures}' <<<"$st")"
    echo "   node $i: $(jq -c '{bytes_from_seeders, bytes_from_peers}' <<<"$st")"
done
for i in 5 6 7 8; do ml_umount "$ML/A$i"; done
echo "PASS"
