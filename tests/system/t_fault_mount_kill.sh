#!/usr/bin/env bash
# t_fault_mount_kill: a mount daemon killed while 8 processes read through it (issue 13,
# part 4).
#
# Node 0 seeds 8 files of 1 MiB over 10 Mbit/s links.  On node 1, 8 ranks start through
# `bitlib run` (one shared daemon, file mode), each reading one file with sha256sum, so
# that most reads wait for pieces.  The daemon gets SIGKILL: every rank ends with an error
# within 5 s (ENOTCONN, no hang, no rank reports a checksum).  The next `bitlib run`
# detaches the dead mount, reads every file (the original bytes: SHA-256) and leaves no
# mount, daemon, socket or registry behind.  Then the same with `bitlib mount`: 8 readers,
# SIGKILL, every reader fails within 5 s, and mounting again over the stale mount (same
# cache) reads the original bytes.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require sha256sum
ml_init fault_mount_kill

mkdir -p "$ML/set"
for i in 1 2 3 4 5 6 7 8; do head -c $((1 << 20)) /dev/urandom >"$ML/set/lib$i.so"; done
(cd "$ML/set" && sha256sum lib*.so) >"$ML/sums"
"$BITLIB" create -q -o "$ML/set.torrent" "$ML/set"
netlab_up 2 10
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"
RUN=$ML/run1
mkdir -p "$RUN"
export BITLIB_RUNTIME_DIR=$RUN
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
MP=$RUN/mnt-${ih:0:16}
cl_track_mount "$MP"
brun() { netlab_exec 1 "$BITLIB" run --no-tracker --peer "$peer" --cache "$ML/cache" --mode file "$@"; }

# wait_all SECS PIDS...: every PID has ended within SECS seconds (else fail: a hang)
wait_all() {
    local secs=$1 p t
    shift
    for ((t = 0; t < secs * 10; t++)); do
        local alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for p in "$@"; do kill -0 "$p" 2>/dev/null && ml_fail "a reader still runs ${secs} s after the daemon died"; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
check_failed() { # PREFIX: all 8 readers failed, with an error message
    local i
    for i in 1 2 3 4 5 6 7 8; do
        [[ $(cat "$1$i.rc") != 0 ]] || ml_fail "reader $i succeeded: $(cat "$1$i.out")"
        [[ -s "$1$i.err" ]] || ml_fail "reader $i failed without a message"
    done
    echo "   every reader failed: $(head -1 "${1}1.err" | sed 's/.*: //')"
}

echo "== 8 ranks read through one bitlib run daemon; SIGKILL the daemon"
ranks=()
for i in 1 2 3 4 5 6 7 8; do
    (rc=0; brun "$ML/set.torrent" -- sh -c "sha256sum \"\$BITLIB_MOUNT/lib$i.so\"" \
        >"$ML/rank$i.out" 2>"$ML/rank$i.err" || rc=$?; echo "$rc" >"$ML/rank$i.rc") &
    ranks+=($!)
    cl_track_pid "$!"
done
for _ in $(seq 200); do
    d=$(rl_daemons "$MP" | head -1)
    [[ -n $d ]] && (( $("$BITLIB" status "$MP" --json 2>/dev/null | jq -r '.reads_waiting // 0') >= 4 )) && break
    sleep 0.1
done
[[ -n $d ]] || ml_fail "no daemon"
echo "   daemon $d, $("$BITLIB" status "$MP" --json | jq -r .reads_waiting) reads waiting; SIGKILL"
t0=$(date +%s%N)
kill -KILL "$d"
wait_all 5 "${ranks[@]}"
echo "   all 8 ranks ended $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
check_failed "$ML/rank"
out=$(brun "$ML/set.torrent" -- sh -c 'cd "$BITLIB_MOUNT" && sha256sum lib*.so') || ml_fail "the next run failed"
cmp -s "$ML/sums" <(echo "$out") || ml_fail "the next run read different bytes"
sleep 0.5
rl_assert_clean "$RUN" "$MP"
echo "   the next bitlib run read the original bytes and left nothing behind"

echo "== the same with bitlib mount: 8 readers, SIGKILL, mount again"
m=$ML/mnt
ml_mount 1 "$ML/set.torrent" "$m" --peer "$peer" --mode file --cache "$ML/cache2"
readers=()
for i in 1 2 3 4 5 6 7 8; do
    (rc=0; sha256sum "$m/lib$i.so" >"$ML/r$i.out" 2>"$ML/r$i.err" || rc=$?; echo "$rc" >"$ML/r$i.rc") &
    readers+=($!)
    cl_track_pid "$!"
done
ml_wait "$m" '.reads_waiting >= 4' 20
t0=$(date +%s%N)
kill -KILL "${ML_PIDS[-1]}"
wait_all 5 "${readers[@]}"
echo "   all 8 readers ended $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
check_failed "$ML/r"
ml_mount 1 "$ML/set.torrent" "$m" --peer "$peer" --mode file --cache "$ML/cache2" 2>"$ML/remount.err"
grep -q "detached a stale FUSE mount" "$ML/remount.err" || ml_fail "no stale mount detached"
(cd "$m" && sha256sum lib*.so) | cmp -s "$ML/sums" - || ml_fail "the remounted set reads different bytes"
[[ $(ml_num "$m" .hash_failures) == 0 ]] || ml_fail "hash failures"
echo "   remounted over the stale mount: the original bytes ($(ml_num "$m" .bytes_downloaded) bytes downloaded after the remount)"
ml_umount "$m"
echo "PASS"
