#!/usr/bin/env bash
# t_mount_busy: SIGTERM does not pull a mount away from processes using it (issue 10,
# defect 7).
#
# Node 1 mounts a set with --stop-wait 4.  This shell opens a file of the mount and a
# background process takes a directory of it as its working directory.
#   1. SIGTERM: the daemon stays, the mount stays, reads through the open file still work,
#      and the log names the count of open files; once both users are gone, the daemon
#      unmounts by itself and exits.
#   2. SIGTERM, users stay past --stop-wait: the daemon logs that it stays mounted and keeps
#      serving; a second signal then detaches it at once, and the daemon exits.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require
ml_init mount_busy

mkdir -p "$ML/set/dir"
head -c 2000000 /dev/urandom >"$ML/set/data.bin"
echo hello >"$ML/set/dir/hello.txt"
"$BITLIB" create -q -o "$ML/set.torrent" "$ML/set"
netlab_up 2 1000
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"
alive() { kill -0 "$1" 2>/dev/null; }

use_mount() { # MP: fd 3 open on a file, a background process with its cwd in the mount
    exec 3<"$1/data.bin"
    head -c 1000 <&3 >/dev/null
    (cd "$1/dir" && exec sleep 60) &
    holder=$!
    cl_track_pid "$holder"
}
read_fd3() { head -c 4096 <&3 | wc -c; }

echo "== 1. SIGTERM while in use, then the users go"
ml_mount 1 "$ML/set.torrent" "$ML/mnt1" --peer "$peer" --stop-wait 4
pid=${ML_PIDS[-1]}
use_mount "$ML/mnt1"
kill -TERM "$pid"
sleep 1
alive "$pid" || ml_fail "the daemon exited with its mount in use"
ml_mounted "$ML/mnt1" || ml_fail "the mount was pulled away"
[[ $(read_fd3) == 4096 ]] || ml_fail "reading the open file failed after SIGTERM"
line=$(grep "is in use" "$ML/mount-1.log" | tail -1)
echo "   log: ${line#* WARN }"
# (children of this shell inherit fd 3: the exact count depends on what runs just then)
[[ $line =~ in\ use\ \((at\ least\ )?[2-9]\ open\ files\ in\ [2-9]\ processes ]] ||
    ml_fail "the log does not count the open files"
exec 3<&-
kill "$holder"
wait "$holder" 2>/dev/null || true
for _ in $(seq 30); do ml_mounted "$ML/mnt1" || break; sleep 0.1; done
ml_mounted "$ML/mnt1" && ml_fail "still mounted after its users left"
for _ in $(seq 30); do alive "$pid" || break; sleep 0.1; done
alive "$pid" && ml_fail "the daemon did not exit after unmounting"
echo "   unmounted and exited once the users left"

echo "== 2. users stay past --stop-wait, then a second signal"
ml_mount 1 "$ML/set.torrent" "$ML/mnt2" --peer "$peer" --stop-wait 2
pid=${ML_PIDS[-1]}
use_mount "$ML/mnt2"
kill -TERM "$pid"
sleep 3.5
alive "$pid" || ml_fail "the daemon exited with its mount in use"
ml_mounted "$ML/mnt2" || ml_fail "the mount was pulled away"
grep -q "staying mounted and serving" "$ML/mount-1.log" || ml_fail "no 'staying mounted' line"
[[ $(read_fd3) == 4096 ]] || ml_fail "reading the open file failed"
[[ $(cat "$ML/mnt2/dir/hello.txt") == hello ]] || ml_fail "the mount stopped serving"
echo "   still mounted and serving after --stop-wait"
kill -TERM "$pid"
sleep 0.3
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 30); do alive "$pid" || break; sleep 0.1; done
alive "$pid" && ml_fail "a second signal did not stop the daemon"
grep -q "again: detaching" "$ML/mount-1.log" || ml_fail "no line about the forced detach"
echo "   a second signal detached it"
exec 3<&-
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
echo "PASS"
