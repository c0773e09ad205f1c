#!/usr/bin/env bash
# t_fault_tracker: the tracker dies in the middle of a job (issue 13, part 4).
#
# The description names two trackers (tiers): T1 on node 0, T2 on node 1 (both
# --interval 2).  Node 0 seeds 4 MiB over 20 Mbit/s links; nodes 2..4 mount through the
# trackers and read every file; T1 gets SIGKILL as the reads begin.
#   - the running swarm carries on: every reader gets the original bytes (SHA-256), no
#     piece fails its hash;
#   - PEX: node 5 mounts with no tracker and one --peer (node 2) and still meets the seeder
#     and the other nodes;
#   - the second tracker takes new nodes: the seeder and the nodes fail over to T2 at their
#     next announce (T2 lists the seeder), and node 6, mounting after T1 died, finds its
#     peers through T2 and reads the set.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum
ml_init fault_tracker

mkdir -p "$ML/set"
for i in 1 2 3 4; do head -c $((1 << 20)) /dev/urandom >"$ML/set/lib$i.so"; done
(cd "$ML/set" && sha256sum lib*.so) >"$ML/sums"
netlab_up 7 20
ip0=$(netlab_ip 0) ip1=$(netlab_ip 1)
"$BITLIB" create -q -o "$ML/set.torrent" --tracker "http://$ip0:6969/announce" \
    --tracker "http://$ip1:6969/announce" "$ML/set"
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
netlab_spawn 0 "$ML/tracker-1.log" "$BITLIB" tracker --listen "$ip0:6969" --interval 2 >/dev/null
t1=$NETLAB_LAST_PID
netlab_spawn 1 "$ML/tracker-2.log" "$BITLIB" tracker --listen "$ip1:6969" --interval 2 >/dev/null
netlab_wait_listen 0 6969 10
netlab_wait_listen 1 6969 10
netlab_spawn 0 "$ML/seed-0.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" --listen "$ip0:6881" >/dev/null
netlab_wait_listen 0 6881 30

mount_tr() { # I: mount on node I through the trackers
    local i=$1
    shift
    mkdir -p "$ML/mnt$i"
    cl_track_mount "$ML/mnt$i"
    netlab_exec "$i" timeout 60 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt$i" --mode file \
        --listen "$(netlab_ip "$i"):6881" --log "$ML/mount-$i.log" --cache "$ML/cache-$i" \
        --read-timeout 30 "$@" || ml_fail "mount on node $i"
    ML_MOUNTS+=("$ML/mnt$i") ML_PIDS+=("$(ml_num "$ML/mnt$i" .pid)")
}
READERS=()
readers() { # I: sha256sum of every file through node I's mount, in the background
    (rc=0; cd "$ML/mnt$1" && timeout 50 sha256sum lib*.so >"$ML/read-$1" 2>"$ML/read-$1.err" || rc=$?
     echo "$rc" >"$ML/read-$1.rc") &
    READERS+=($!)
    cl_track_pid "$!"
}
check_read() { # I
    [[ $(cat "$ML/read-$1.rc") == 0 ]] || ml_fail "node $1: reader failed: $(cat "$ML/read-$1.err")"
    cmp -s "$ML/sums" "$ML/read-$1" || ml_fail "node $1 read different bytes"
    [[ $(ml_num "$ML/mnt$1" .hash_failures) == 0 ]] || ml_fail "node $1: hash failures"
}

echo "== nodes 2..4 mount through T1, find each other; T1 dies as they read"
for i in 2 3 4; do mount_tr "$i"; done
for i in 2 3 4; do ml_wait "$ML/mnt$i" '.num_peers >= 3' 20; done
for i in 2 3 4; do readers "$i"; done
kill -KILL "$t1"
for p in "${READERS[@]}"; do wait "$p" 2>/dev/null || true; done
READERS=()
for i in 2 3 4; do check_read "$i"; done
echo "   nodes 2..4 read the original bytes with T1 gone"

echo "== PEX: node 5 knows only node 2, no tracker"
mkdir -p "$ML/mnt5"
cl_track_mount "$ML/mnt5"
netlab_exec 5 timeout 60 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt5" --mode file --no-tracker \
    --peer "$(netlab_ip 2):6881" --listen "$(netlab_ip 5):6881" --log "$ML/mount-5.log" \
    --cache "$ML/cache-5" --read-timeout 30 || ml_fail "mount on node 5"
ML_MOUNTS+=("$ML/mnt5") ML_PIDS+=("$(ml_num "$ML/mnt5" .pid)")
ml_wait "$ML/mnt5" '.num_peers >= 4' 20
echo "   node 5 connected to $(ml_status "$ML/mnt5" | jq -c '[.peers[].addr]')"
readers 5

echo "== the second tracker takes new nodes"
listed=
for _ in $(seq 50); do
    listed=$(netlab_exec 6 timeout 20 "$BITLIB" tracker probe --info-hash "$ih" --port 7001 --timeout 5 \
        "http://$ip1:6969/announce" 2>>"$ML/probe.log" | sort | tr '\n' ' ')
    [[ $listed == *"$ip0:6881"* ]] && break
    sleep 0.2
done
echo "   T2 lists: $listed"
[[ $listed == *"$ip0:6881"* ]] || ml_fail "the seeder never announced to T2"
mount_tr 6
ml_wait "$ML/mnt6" '.num_peers >= 2' 20
readers 6
for p in "${READERS[@]}"; do wait "$p" 2>/dev/null || true; done
check_read 5
check_read 6
echo "   node 6 found $(ml_num "$ML/mnt6" .num_peers) peers through T2; nodes 5 and 6 read the original bytes"
for i in 2 3 4 5 6; do ml_umount "$ML/mnt$i"; done
echo "PASS"
