#!/usr/bin/env bash
# t_scale_mounts: many jobs on one node (issue 13, item 5), on loopback.
#   - 64 concurrent mounts of 64 different descriptions (warm caches, so no peers are
#     needed): all mount, every file reads back right through every mount, each daemon's
#     descriptors and memory are printed and bounded;
#   - 64 processes each holding the 200 libraries of one set open and mapped through one
#     mount (12,800 open files): none fails with EMFILE/ENFILE, the daemon's descriptors
#     stay bounded by the set (it keeps no descriptor per open file), status still
#     answers; then all close and all 65 mounts unmount on SIGTERM.
# The limits that matter are printed: the per-process RLIMIT_NOFILE (each reader needs
# one descriptor per open library) and fs.file-max; the daemon needs about one per store
# file it has written or read plus its sockets.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/mountlab.sh"
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (FUSE)"; exit 77; }
[[ -c /dev/fuse ]] || { echo "SKIP: no /dev/fuse"; exit 77; }
[[ -x "$BITLIB" ]] || ml_fail "$BITLIB not built"
ml_init scale_mounts
NM=${SCALE_MOUNTS:-64} NP=${SCALE_PROCS:-64} NF=${SCALE_FILES:-200}
pids=()
stop_all() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
cl_on_exit stop_all

fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mount_one() {   # I DESC CACHE MP
    mkdir -p "$4"
    cl_track_mount "$4"
    "$BITLIB" mount "$2" "$4" --cache "$3" --no-tracker --listen 127.0.0.1:0 \
        --socket "$ML/m$1.sock" --log "$ML/m$1.log" 2>>"$ML/mount-errors"
    pids+=("$("$BITLIB" status --socket "$ML/m$1.sock" --json | jq -r .pid)")
}

echo "== limits: RLIMIT_NOFILE $(ulimit -Sn) soft / $(ulimit -Hn) hard, fs.file-max $(cat /proc/sys/fs/file-max)"

echo "== $NM mounts of $NM different descriptions"
for i in $(seq "$NM"); do
    d=$ML/set$i
    mkdir -p "$d/lib"
    for f in a b c d; do head -c 8192 /dev/urandom >"$d/lib/lib$f.so.$i"; done
    "$BITLIB" create -q -o "$ML/set$i.torrent" "$d"
    cp -a "$d" "$ML/cache$i"        # a warm cache: the store's layout is the set's
done
t0=$(date +%s%N)
for i in $(seq "$NM"); do mount_one "$i" "$ML/set$i.torrent" "$ML/cache$i" "$ML/mp$i"; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
n=$(grep -c " $ML/mp[0-9]* fuse" /proc/mounts)
((n == NM)) || ml_fail "$n of $NM mounts are there"
for i in $(seq "$NM"); do
    for f in a b c d; do
        cmp -s "$ML/set$i/lib/lib$f.so.$i" "$ML/mp$i/lib/lib$f.so.$i" || ml_fail "mount $i: lib$f differs"
    done
done
maxfd=0 maxrss=0
for p in "${pids[@]}"; do
    f=$(fds "$p"); r=$(rss_kib "$p")
    ((f > maxfd)) && maxfd=$f; ((r > maxrss)) && maxrss=$r
done
echo "   $NM mounts up in $ms ms, every file read back; per daemon at most $maxfd descriptors, $((maxrss / 1024)) MiB RSS"
((maxfd < 64)) || ml_fail "a daemon of a 4-file set holds $maxfd descriptors"

echo "== $NP processes holding the $NF libraries of one set open and mapped through one mount"
big=$ML/big
mkdir -p "$big/lib"
for j in $(seq "$NF"); do head -c 20000 /dev/urandom >"$big/lib/libx$j.so"; done
"$BITLIB" create -q -o "$ML/big.torrent" "$big"
cp -a "$big" "$ML/cachebig"
mount_one big "$ML/big.torrent" "$ML/cachebig" "$ML/mpbig"
dpid=${pids[-1]}
fd0=$(fds "$dpid")
mkdir -p "$ML/held"
cat >"$ML/hold.py" <<'PY'
import mmap, os, sys, time
root, ready, done = sys.argv[1], sys.argv[2], sys.argv[3]
held = []
try:
    for name in sorted(os.listdir(root)):
        fd = os.open(os.path.join(root, name), os.O_RDONLY)
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        m[0]; m[len(m) - 1]                       # touch first and last page
        held.append((fd, m))
except OSError as e:
    open(ready, "w").write("error %s\n" % e)
    sys.exit(1)
open(ready, "w").write("%d\n" % len(held))
while not os.path.exists(done):
    time.sleep(0.1)
PY
readers=()
for k in $(seq "$NP"); do
    /usr/bin/python3 "$ML/hold.py" "$ML/mpbig/lib" "$ML/held/$k" "$ML/release" &
    readers+=($!)
    cl_track_pid $!
done
for _ in $(seq 600); do (( $(ls "$ML/held" | wc -l) == NP )) && break; sleep 0.1; done
(( $(ls "$ML/held" | wc -l) == NP )) || ml_fail "only $(ls "$ML/held" | wc -l) of $NP readers got going"
bad=$(grep -L "^$NF$" "$ML"/held/* || true)
[[ -z "$bad" ]] || ml_fail "readers failed: $(cat $bad | sort | uniq -c)"
opened=$(for p in "${readers[@]}"; do ls -l "/proc/$p/fd" 2>/dev/null; done | grep -c "$ML/mpbig/lib/")
fd1=$(fds "$dpid")
st=$("$BITLIB" status --socket "$ML/mbig.sock" --json)
[[ $(jq -r .pid <<<"$st") == "$dpid" ]] || ml_fail "status did not answer under load"
echo "   $NP readers hold $NP x $NF files open and mapped through one mount ($opened descriptors: Python's mmap keeps a duplicate); the daemon has $fd1 descriptors ($fd0 before), $(( $(rss_kib "$dpid") / 1024 )) MiB RSS"
((opened >= NP * NF)) || ml_fail "$opened descriptors on the mount, expected at least $((NP * NF))"
((fd1 <= NF + 64)) || ml_fail "the daemon holds $fd1 descriptors for $((NP * NF)) open files"
touch "$ML/release"
for p in "${readers[@]}"; do wait "$p" || ml_fail "a reader failed"; done

echo "== all $((NM + 1)) daemons unmount on SIGTERM"
stop_all
for _ in $(seq 300); do
    n=$(grep -c " $ML/mp[0-9a-z]* fuse" /proc/mounts || true)
    ((n == 0)) && break; sleep 0.1
done
((n == 0)) || ml_fail "$n mounts left 30 s after SIGTERM"
for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && ml_fail "daemon $p still alive"
done
pids=()
left=$(grep -v "no --peer and --no-tracker" "$ML/mount-errors" 2>/dev/null || true)
[[ -z "$left" ]] || ml_fail "mount said: $left"
echo PASS
