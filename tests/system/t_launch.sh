#!/usr/bin/env bash
# t_launch: bitlib launch end to end, on a 3-node namespace cluster with MPICH's mpiexec as
# the launcher (node 0 is where the job script runs; n1, n2 compute nodes via lib/nsnode-ssh).
#   `bitlib launch --launcher mpirun SETDIR -- SETDIR/bin/app` starts a tracker and a seeder
#   on node 0, describes the set (prefetch list from bin/app), runs bin/app from the mount on
#   8 ranks (4 per node, one daemon per node) and stops everything when the job ends;
#   the swarm is private (a job secret made per job, removed afterwards);
#   a second launch of the unchanged set reuses the cached description (same info-hash,
#   nothing hashed); after a file changes it is described again;
#   a failing rank's status is launch's status; nothing is left running or mounted.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc mpiexec
ml_init launch
export NSNODE_RUNDIRS=$ML/nodes
launch_cleanup() {
    local rc=$? d
    set +e   # a failing step must not end the cleanup
    for d in "$NSNODE_RUNDIRS"/n*/mnt-*; do if [[ -e "$d" ]]; then rl_reap "$d"; fi; done
    (exit $rc); ml_cleanup
}
trap launch_cleanup EXIT
"$HERE/lib/mklibset.sh" "$ML/set" >/dev/null
netlab_up 3 200
# node 0 keeps the default runtime directory (launch's logs, removed on success); the ranks
# get their node's from nsnode-ssh
launch() {
    netlab_exec 0 timeout 120 "$BITLIB" launch --launcher mpirun --cache-dir "$ML/descs" \
        --launcher-arg=-iface --launcher-arg=eth0 --launcher-arg=-launcher --launcher-arg=ssh \
        --launcher-arg=-launcher-exec --launcher-arg="$HERE/lib/nsnode-ssh" \
        --launcher-arg=-hosts --launcher-arg=n1,n2 --launcher-arg=-np --launcher-arg=8 \
        --launcher-arg=-ppn --launcher-arg=4 "$@"
}

echo "== first launch: tracker, description (created), seeder, 8 ranks of bin/app from the mounts"
launch "$ML/set" -- "$ML/set/bin/app" >"$ML/out1" 2>"$ML/err1" || { cat "$ML/err1"; ml_fail "launch failed"; }
head -1 "$ML/err1" | sed 's/^/   /'
grep -q "(created)" "$ML/err1" || ml_fail "first launch did not create the description"
grep -q "private swarm$" "$ML/err1" || ml_fail "the job's swarm is not private: $(cat "$ML/err1")"
(( $(grep -c "^libset ok: alpha beta gamma delta" "$ML/out1") == 8 )) || { cat "$ML/err1"; ml_fail "not 8 ranks ran app"; }
desc=$(ls "$ML"/descs/*.torrent | grep -v job-)
ih1=$("$BITLIB" inspect --json "$desc" | jq -r .info_hash)
pf=$("$BITLIB" inspect --json "$desc" | jq -r '.prefetch | length')
((pf >= 4)) || ml_fail "prefetch list from bin/app has $pf entries"
for n in n1 n2; do
    logs=$(ls "$NSNODE_RUNDIRS/$n"/*.log | wc -l)
    ((logs == 1)) || ml_fail "$n: $logs daemon logs, expected one daemon"
    grep -q "the last process using this mount has exited" "$NSNODE_RUNDIRS/$n"/*.log ||
        ml_fail "$n: the daemon did not leave with its ranks"
    (( $(grep -c "bytes_from\|is ready" "$NSNODE_RUNDIRS/$n"/*.log) >= 1 )) || true
    rl_assert_clean "$NSNODE_RUNDIRS/$n" "$(ls -d "$NSNODE_RUNDIRS/$n"/mnt-*)"
done
echo "   8 ranks ran bin/app from the mounts, one daemon per node, prefetch $pf files, info-hash ${ih1:0:16}"
[[ -z "$(ip netns pids "$(netlab_ns 0)")" ]] || ml_fail "left running in node 0: $(ip netns pids "$(netlab_ns 0)" | xargs ps -o pid,cmd -p)"
[[ -z "$(ls "$ML"/descs/job-* 2>/dev/null)" ]] || ml_fail "the job's description or secret was left: $(ls "$ML"/descs)"
echo "   tracker and seeder stopped, job description removed"

echo "== second launch of the unchanged set: the cached description is reused"
launch "$ML/set" -- "$ML/set/bin/app" >"$ML/out2" 2>"$ML/err2" || { cat "$ML/err2"; ml_fail "second launch failed"; }
grep -q "(reused: the set has not changed)" "$ML/err2" || { cat "$ML/err2"; ml_fail "not reused"; }
(( $(grep -c "^libset ok" "$ML/out2") == 8 )) || ml_fail "second job: not 8 ranks"
echo "   reused, 8 ranks ok"

echo "== --no-fuse: the same job without FUSE (bitlib run --no-fuse on every rank)"
launch --no-fuse --mode file "$ML/set" -- "$ML/set/bin/app" >"$ML/outnf" 2>"$ML/errnf" ||
    { cat "$ML/errnf"; ml_fail "launch --no-fuse failed"; }
(( $(grep -c "^libset ok: alpha beta gamma delta" "$ML/outnf") == 8 )) || { cat "$ML/errnf"; ml_fail "--no-fuse: not 8 ranks ran app"; }
for n in n1 n2; do
    log=$(ls -t "$NSNODE_RUNDIRS/$n"/*.log | head -1)
    grep -q "no FUSE: the set.s tree is" "$log" || ml_fail "$n: the daemon was not a --no-fuse one: $(head -3 "$log")"
    tree=$(ls -d "$NSNODE_RUNDIRS/$n"/caches/*/.bitlib-tree)
    [[ -f $tree/bin/app && -f $tree/lib/sub/libdelta.so ]] || ml_fail "$n: app and its libraries are not in the tree $tree"
    [[ ! -e $tree/lib/libunused.so ]] || ml_fail "$n: file mode brought libunused.so"
done
(( $(awk '$3 ~ /^fuse/' /proc/mounts | grep -c "$NSNODE_RUNDIRS") == 0 )) || ml_fail "a FUSE mount is left"
echo "   8 ranks ran bin/app from each node's tree (daemons without FUSE, file mode: libunused.so not fetched)"
set +e
err=$(netlab_exec 0 "$BITLIB" launch --no-fuse --mode block "$ML/set" -- true 2>&1); rc=$?
set -e
((rc == 2)) && [[ $err == "bitlib launch: --no-fuse: block mode needs FUSE; use file, hybrid or bulk" ]] ||
    ml_fail "--no-fuse --mode block: exit $rc, '$err'"
echo "   $err"

echo "== a changed set is described again; a failing rank's status is launch's"
echo "new" >"$ML/set/lib/NEWFILE"
set +e
launch "$ML/set" -- sh -c 'exit 5' >"$ML/out3" 2>"$ML/err3"; rc=$?
set -e
grep -q "(created)" "$ML/err3" || { cat "$ML/err3"; ml_fail "changed set not described again"; }
((rc != 0)) || ml_fail "a job whose ranks exit 5 made launch exit 0"
kept=$(sed -n 's/^bitlib launch: log kept: //p' "$ML/err3")
[[ -n "$kept" ]] || ml_fail "a failed job should keep its tracker and seeder logs"
rm -f $kept
desc3=$(ls -t "$ML"/descs/*.torrent | grep -v job- | head -1)   # (key: set and executable)
ih3=$("$BITLIB" inspect --json "$desc3" | jq -r .info_hash)
[[ "$ih3" != "$ih1" ]] || ml_fail "the changed set kept its info-hash"
echo "   described again (info-hash ${ih3:0:16}), launch exited $rc"
for n in n1 n2; do rl_assert_clean "$NSNODE_RUNDIRS/$n" "$(ls -d "$NSNODE_RUNDIRS/$n"/mnt-*)"; done
echo PASS
