#!/usr/bin/env bash
# t_tracker_stopped: nodes that leave tell the tracker, and probes leave nothing behind
# (issue 10, defect 6).
#
# Node 0 runs `bitlib tracker` and `bitlib seed`; node 1 mounts the set (announcing to the
# tracker).  A probe from node 2 sees both.  After SIGTERM the mount daemon sends
# event=stopped before it exits: the next probe, within a few seconds, sees only the seed
# (the old daemon left its entry for the peer TTL, an hour by default).  Probes without
# --keep deregister themselves: a probe never sees an earlier probe's port.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require
ml_init tracker_stopped

mkdir -p "$ML/set"
head -c 3000000 /dev/urandom >"$ML/set/data.bin"
netlab_up 3 1000
ip0=$(netlab_ip 0) ip1=$(netlab_ip 1)
"$BITLIB" create -q -o "$ML/set.torrent" --tracker "http://$ip0:6969/announce" "$ML/set"
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
netlab_spawn 0 "$ML/tracker.log" "$BITLIB" tracker --listen "$ip0:6969" >/dev/null
netlab_wait_listen 0 6969 10
netlab_spawn 0 "$ML/seed-0.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" --listen "$ip0:6881" >/dev/null
netlab_wait_listen 0 6881 30

probe() { # PORT: the peers the tracker lists now (sorted), as seen from node 2
    netlab_exec 2 timeout 20 "$BITLIB" tracker probe --info-hash "$ih" --port "$1" --timeout 10 \
        "http://$ip0:6969/announce" 2>>"$ML/probe.log" | sort
}

echo "== node 1 mounts; the tracker lists it"
mkdir -p "$ML/mnt1"
cl_track_mount "$ML/mnt1"
netlab_exec 1 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt1" --listen "$ip1:6881" --log "$ML/mount-1.log" \
    --cache "$ML/cache-1" ||
    ml_fail "mount"
ML_MOUNTS+=("$ML/mnt1") ML_PIDS+=("$(ml_num "$ML/mnt1" .pid)")
for _ in $(seq 50); do probe 7001 | grep -qx "$ip1:6881" && break; sleep 0.2; done
peers=$(probe 7002)
echo "   probe sees: $(tr '\n' ' ' <<<"$peers")"
grep -qx "$ip0:6881" <<<"$peers" || ml_fail "the seed is not listed"
grep -qx "$ip1:6881" <<<"$peers" || ml_fail "the mount is not listed"
grep -q ":700[12]$" <<<"$peers" && ml_fail "an earlier probe is still listed (a phantom peer)"

echo "== SIGTERM: the daemon tells the tracker it leaves"
ml_umount "$ML/mnt1"
peers=$(probe 7003)
echo "   probe sees: $(tr '\n' ' ' <<<"$peers")"
grep -qx "$ip1:6881" <<<"$peers" && ml_fail "the stopped mount is still listed"
grep -qx "$ip0:6881" <<<"$peers" || ml_fail "the seed is gone too"
grep -q ":700[0-9]$" <<<"$peers" && ml_fail "an earlier probe is still listed (a phantom peer)"
echo "PASS"
