#!/usr/bin/env bash
# t_cache_default: default caches are per user, and one daemon writes a cache at a time
# (issue 10, defect 4).
#
# Node 0 seeds a set.  Then, with default caches unless said:
#   1. root mounts it on mnt1: cache /dev/shm/bitlib-0/<info-hash>, under a 0700 root-owned
#      directory, locked (.bitlib-lock names the daemon)
#   2. root mounts it again on mnt2: one line says the cache is in use and this mount uses
#      its own (<info-hash>.2); reads are right
#   3. root mounts it on mnt3 with --cache = mnt1's cache: refused, exit 1, one line
#   4. nobody mounts it on umnt: its own cache /dev/shm/bitlib-65534/<info-hash>; reads
#      (as nobody) are right
#   5. nobody mounts it with --cache = root's cache, or with a root-owned 0755 directory
#      (the old default's shape): refused at mount time, exit 1, one line each
# Every cache this test made is removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require cmp setpriv
ml_init cache_default
chmod 755 "$ML"
U=65534
as_nobody() { setpriv --reuid=$U --regid=$U --clear-groups -- "$@"; }
as_nobody test -x "$BITLIB" || { echo "SKIP: nobody cannot run $BITLIB"; exit 77; }

mkdir -p "$ML/set/lib"
for i in 1 2 3 4; do head -c $((300000 + i)) /dev/urandom >"$ML/set/lib/lib$i.so"; done
"$BITLIB" create -q -o "$ML/set.torrent" "$ML/set"
chmod 644 "$ML/set.torrent"
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
root_cache=/dev/shm/bitlib-0/$ih
user_cache=/dev/shm/bitlib-$U/$ih
user_root_existed=0
[[ -e /dev/shm/bitlib-$U ]] && user_root_existed=1
user_run_existed=0
[[ -e /tmp/bitlib-$U ]] && user_run_existed=1
remove_caches() {
    rm -rf -- "$root_cache" "$root_cache".[0-9]* "$user_cache" "$user_cache".[0-9]* \
        "/dev/shm/bitlib-$ih"    # (where main's default was)
    ((user_root_existed)) || rmdir /dev/shm/bitlib-$U 2>/dev/null || true
    ((user_run_existed)) || rm -rf /tmp/bitlib-$U
}
cl_on_exit remove_caches

netlab_up 3 1000
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"

# one_line_error OUTFILE: the command failed with exit 1 and said one line
one_line_error() {
    local rc=$1 f=$2
    ((rc == 1)) || ml_fail "exit $rc, expected 1: $(cat "$f")"
    [[ $(grep -cv '^$' "$f") == 1 ]] || ml_fail "expected one line, got: $(cat "$f")"
    echo "   refused (exit 1): $(cat "$f")"
}

echo "== 1. root, default cache"
mkdir -p "$ML/mnt1"
cl_track_mount "$ML/mnt1"
netlab_exec 1 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt1" --peer "$peer" --no-tracker \
    --listen "$(netlab_ip 1):6881" --log "$ML/mount-1.log" 2>"$ML/err1" || ml_fail "mount 1: $(cat "$ML/err1")"
[[ $(ml_num "$ML/mnt1" .cache) == "$root_cache" ]] || ml_fail "cache is $(ml_num "$ML/mnt1" .cache)"
[[ $(stat -c '%a %u %F' /dev/shm/bitlib-0) == "700 0 directory" ]] || ml_fail "/dev/shm/bitlib-0 is $(stat -c '%a %u %F' /dev/shm/bitlib-0)"
pid1=$(ml_num "$ML/mnt1" .pid)
ML_MOUNTS+=("$ML/mnt1") ML_PIDS+=("$pid1")
grep -q "^pid $pid1 mount $ML/mnt1\$" "$root_cache/.bitlib-lock" || ml_fail "lock file says: $(cat "$root_cache/.bitlib-lock")"
cmp "$ML/set/lib/lib1.so" "$ML/mnt1/lib/lib1.so" || ml_fail "mnt1 reads wrong"
echo "   $root_cache, locked by pid $pid1"

echo "== 2. root, a second mount of the same set"
mkdir -p "$ML/mnt2"
cl_track_mount "$ML/mnt2"
netlab_exec 1 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt2" --peer "$peer" --no-tracker \
    --listen "$(netlab_ip 1):6882" --log "$ML/mount-2.log" 2>"$ML/err2" || ml_fail "mount 2: $(cat "$ML/err2")"
echo "   says: $(cat "$ML/err2")"
[[ $(wc -l <"$ML/err2") == 1 ]] && grep -q "in use by pid $pid1.*uses its own cache $root_cache.2" "$ML/err2" ||
    ml_fail "the second mount did not say plainly which cache it uses"
[[ $(ml_num "$ML/mnt2" .cache) == "$root_cache.2" ]] || ml_fail "mnt2's cache is $(ml_num "$ML/mnt2" .cache)"
ML_MOUNTS+=("$ML/mnt2") ML_PIDS+=("$(ml_num "$ML/mnt2" .pid)")
cmp "$ML/set/lib/lib2.so" "$ML/mnt2/lib/lib2.so" || ml_fail "mnt2 reads wrong"

echo "== 3. root, --cache held by another daemon"
mkdir -p "$ML/mnt3"
rc=0
netlab_exec 1 "$BITLIB" mount "$ML/set.torrent" "$ML/mnt3" --peer "$peer" --no-tracker \
    --cache "$root_cache" --log "$ML/mount-3.log" 2>"$ML/err3" || rc=$?
one_line_error "$rc" "$ML/err3"
grep -q "in use by another bitlib daemon (pid $pid1, mount $ML/mnt1)" "$ML/err3" || ml_fail "does not name the holder"
grep -q " $ML/mnt3 " /proc/mounts && ml_fail "mnt3 got mounted"

echo "== 4. nobody, default cache"
install -d -o $U -g $U "$ML/umnt" "$ML/u"
cl_track_mount "$ML/umnt"
rc=0
netlab_exec 2 setpriv --reuid=$U --regid=$U --clear-groups -- "$BITLIB" mount "$ML/set.torrent" "$ML/umnt" \
    --peer "$peer" --no-tracker --listen "$(netlab_ip 2):6881" --log "$ML/u/mount.log" 2>"$ML/err4" || rc=$?
[[ $(stat -c '%a %u %F' /dev/shm/bitlib-$U) == "700 $U directory" ]] || ml_fail "/dev/shm/bitlib-$U is $(stat -c '%a %u' /dev/shm/bitlib-$U)"
[[ $(stat -c '%u %F' "$user_cache") == "$U directory" ]] || ml_fail "nobody's cache $user_cache is not theirs"
if ((rc != 0)) && grep -q "open /dev/fuse: Permission denied" "$ML/err4" && ! as_nobody test -w /dev/fuse; then
    # this machine's /dev/fuse is root-only (a container): the cache part is what we can see
    echo "   /dev/fuse is not open to ordinary users here: checked the cache only ($user_cache)"
else
    ((rc == 0)) || ml_fail "nobody's mount: $(cat "$ML/err4"; tail -5 "$ML/u/mount.log")"
    st=$(as_nobody "$BITLIB" status "$ML/umnt" --json)
    [[ $(jq -r .cache <<<"$st") == "$user_cache" ]] || ml_fail "nobody's cache is $(jq -r .cache <<<"$st")"
    for i in 1 2 3 4; do
        as_nobody cat "$ML/umnt/lib/lib$i.so" | cmp - "$ML/set/lib/lib$i.so" || ml_fail "nobody reads lib$i.so wrong"
    done
    echo "   $user_cache; every file reads right"
fi

echo "== 5. nobody, a cache that is not theirs"
install -d -o $U -g $U "$ML/umnt5"
for c in "$root_cache" "$ML/rootdir"; do
    mkdir -p "$ML/rootdir"
    chmod 755 "$ML/rootdir"
    rc=0
    netlab_exec 2 setpriv --reuid=$U --regid=$U --clear-groups -- "$BITLIB" mount "$ML/set.torrent" \
        "$ML/umnt5" --peer "$peer" --no-tracker --cache "$c" --log "$ML/u/mount5.log" 2>"$ML/err5" || rc=$?
    one_line_error "$rc" "$ML/err5"
    grep -q " $ML/umnt5 " /proc/mounts && ml_fail "umnt5 got mounted"
done
ml_umount "$ML/mnt1"
ml_umount "$ML/mnt2"
echo "PASS"
