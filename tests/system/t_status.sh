#!/usr/bin/env bash
# t_status: `bitlib status` finds every daemon and says what it is (issue 10, defect 9).
#
# Node 0 runs a tracker and a seeder, node 1 mounts the set (mnt1, reached also through a
# symlink), node 1 mounts it again on mnt2 and that daemon is SIGKILLed (a stale mount).
#   - status through the symlink answers for mnt1
#   - status of mnt2 says "stale mount" (exit 1); the listing shows it as STALE
#   - `bitlib status` lists the mount (pid, mode, cache, log), the seeder and the tracker;
#     --json gives an array with their kinds; status DIR of the seeder's directory and the
#     tracker's socket answer with peers and bytes served
#   - "from seeders" counts real seeders only: node 2 fetches from the seeder and keeps
#     serving (what came from the seeder counts; mnt1 may send some too); node 3 fetches from node 2 alone, a node that
#     is complete but no seeder (node 0 cut off meanwhile): bytes from seeders 0, from peers
#     the set
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require
ml_init status

mkdir -p "$ML/set"
for i in 1 2 3; do head -c 700000 /dev/urandom >"$ML/set/f$i.bin"; done
total=2100000
netlab_up 4 1000
ip0=$(netlab_ip 0)
"$BITLIB" create -q -o "$ML/set.torrent" --tracker "http://$ip0:6969/announce" "$ML/set"
netlab_spawn 0 "$ML/tracker.log" "$BITLIB" tracker --listen "$ip0:6969" >/dev/null
netlab_wait_listen 0 6969 10
netlab_spawn 0 "$ML/seed-0.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" --listen "$ip0:6881" >/dev/null
netlab_wait_listen 0 6881 30

echo "== mnt1, and a symlink to it"
ml_mount 1 "$ML/set.torrent" "$ML/mnt1" --peer "$ip0:6881"
cmp "$ML/set/f1.bin" "$ML/mnt1/f1.bin"
ln -s mnt1 "$ML/link"
st=$("$BITLIB" status "$ML/link" --json) || ml_fail "status through a symlink: $st"
[[ $(jq -r .mountpoint <<<"$st") == "$ML/mnt1" ]] || ml_fail "status through the symlink: $st"
echo "   status $ML/link answers for $(jq -r .mountpoint <<<"$st")"
pid1=$(jq -r .pid <<<"$st")

echo "== mnt2, its daemon killed: a stale mount"
ml_mount 1 "$ML/set.torrent" "$ML/mnt2" --peer "$ip0:6881" --listen "$(netlab_ip 1):6882" --cache "$ML/cache-1b"
kill -KILL "${ML_PIDS[-1]}"
sleep 0.3
rc=0
"$BITLIB" status "$ML/mnt2" >"$ML/out" 2>"$ML/err" || rc=$?
echo "   exit $rc: $(cat "$ML/err")"
((rc == 1)) && grep -q "is a stale mount" "$ML/err" || ml_fail "status of a stale mount"

echo "== bitlib status: every daemon"
"$BITLIB" status >"$ML/list"
grep -E "^mount +$pid1  $ML/mnt1  hybrid, .*cache $ML/cache-1, log $ML/mount-1.log$" "$ML/list" ||
    { cat "$ML/list"; ml_fail "the listing lacks mnt1 with pid, mode, cache and log"; }
grep -E "^seed .* $ML/set  " "$ML/list" || ml_fail "the listing lacks the seeder"
grep -E "^tracker .* $ip0:6969 " "$ML/list" || ml_fail "the listing lacks the tracker"
grep -E "^mount .* $ML/mnt2  STALE" "$ML/list" || ml_fail "the listing lacks the stale mnt2"
"$BITLIB" status --json >"$ML/list.json"
jq -e --arg d "$ML" 'map(select((.mountpoint // .dir // "") | startswith($d))) | map(.kind) | sort == ["mount","mount","seed"]' \
    "$ML/list.json" >/dev/null || ml_fail "--json listing: $(jq -c --arg d "$ML" 'map(select((.mountpoint // .dir // "") | startswith($d)))' "$ML/list.json")"
seed=$("$BITLIB" status "$ML/set" --json)
[[ $(jq -r .kind <<<"$seed") == seed ]] && (($(jq -r .bytes_uploaded <<<"$seed") >= 700000)) ||
    ml_fail "seed status: $seed"
echo "   seed: $(jq -c '{kind, pid, num_peers, bytes_uploaded, rate_up}' <<<"$seed")"
tsock=$(jq -r --arg l "$ip0:6969" '.[] | select(.kind == "tracker" and .listen == $l) | .socket' "$ML/list.json")
trk=$("$BITLIB" status --socket "$tsock" --json)
jq -e ".torrents == 1 and .num_peers >= 1 and .http_announces >= 1" <<<"$trk" >/dev/null || ml_fail "tracker status: $trk"
echo "   tracker: $(jq -c '{kind, torrents, num_peers, http_announces}' <<<"$trk")"
"$BITLIB" status --socket "$tsock" | grep -q "^tracker $ip0:6969: 1 torrents" || ml_fail "human tracker status"

echo "== from seeders: real seeders only"
netlab_spawn 2 "$ML/fetch-2.log" "$BITLIB" fetch "$ML/set.torrent" "$ML/copy2" --no-tracker \
    --peer "$ip0:6881" --listen "$(netlab_ip 2):6881" --keep-serving --json -q >/dev/null
for _ in $(seq 100); do grep -q "complete: every piece" "$ML/fetch-2.log" && break; sleep 0.1; done
s2=$("$BITLIB" status "$ML/copy2" --json)
jq -e --arg s "$ip0:6881" '.bytes_from_seeders > 0 and (.peers | map(select(.addr == $s)) | .[0].seeder)' \
    <<<"$s2" >/dev/null || ml_fail "node 2 (from the seeder): $s2"
echo "   node 2: $(jq -c '{bytes_from_seeders, bytes_from_peers}' <<<"$s2") (the seeder counted as one)"
netlab_cut 0     # node 3 must not learn of the seeder (peer exchange) and reach it
netlab_exec 3 timeout 60 "$BITLIB" fetch "$ML/set.torrent" "$ML/copy3" --no-tracker \
    --peer "$(netlab_ip 2):6881" --json -q >"$ML/fetch3.json" 2>"$ML/fetch-3.log" || ml_fail "fetch on node 3"
jq -c '{bytes_downloaded, bytes_from_seeders, bytes_from_peers}' "$ML/fetch3.json"
jq -e '.bytes_from_seeders == 0 and .bytes_from_peers >= '"$total"' and (.peers | map(.seeder) | any | not)' \
    "$ML/fetch3.json" >/dev/null || ml_fail "a complete node was counted as a seeder"
netlab_heal 0
ml_umount "$ML/mnt1"
echo "PASS"
