#!/usr/bin/env bash
# t_run_user: bitlib run as an ordinary user (made by this test with useradd, removed after).
#
# Node 0 seeds (as root); in node 1 the user runs 4 ranks at once with no BITLIB_RUNTIME_DIR
# and no XDG_RUNTIME_DIR:
#   - the runtime directory is /tmp/bitlib-<uid>, mode 0700, owned by the user;
#   - the mount goes through fusermount3 (/dev/fuse is root's only): the mount shows
#     user_id=<uid>, the daemon runs as the user; one daemon for the 4 ranks;
#   - the program runs from the mount; after the last rank nothing is left;
#   - SIGKILL of the user's whole job leaves a dead mount the user cannot umount(2); the
#     user's next bitlib run detaches it (fusermount3 -uz) and works, leaving nothing.
# Unprivileged FUSE needs /dev/fuse world-readable-writable, as stock Debian makes it
# (systemd-udev's 50-udev-default.rules: KERNEL=="fuse", MODE="0666"); fusermount3 opens it
# with the user's fs uid.  A machine without udev may have it 0600: the test then sets 0666
# for its duration and restores the old mode.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc useradd userdel runuser
ml_init run_user
U=blrun$$
user_cleanup() {
    local rc=$?
    set +e   # a failing step must not end the cleanup
    rl_reap "${MP:-/nonexistent}"   # (set +e from here on)
    if id "$U" >/dev/null 2>&1; then
        local uid; uid=$(id -u "$U")
        for p in $(pgrep -u "$uid" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        rm -rf "/tmp/bitlib-$uid"
        if [[ -n "${CACHE:-}" && "$CACHE" == /dev/shm/bitlib-* ]]; then rm -rf -- "$CACHE"; fi
        userdel "$U" 2>/dev/null || true
    fi
    if [[ -n "${FUSE_MODE:-}" ]]; then chmod "$FUSE_MODE" /dev/fuse; fi
    (exit $rc); ml_cleanup
}
trap user_cleanup EXIT
if [[ $(stat -c %a /dev/fuse) != 666 ]]; then
    FUSE_MODE=$(stat -c %a /dev/fuse)
    echo "   /dev/fuse is mode $FUSE_MODE here (no udev): 666 for this test, as stock Debian has it"
    chmod 666 /dev/fuse
fi
useradd -M -N -s /bin/sh "$U"
UID_=$(id -u "$U")
chmod 755 "$ML"

"$HERE/lib/mklibset.sh" "$ML/set" >/dev/null
"$BITLIB" create -q -o "$ML/set.torrent" --prefetch-from "$ML/set/bin/app" "$ML/set"
chmod -R a+rX "$ML"
netlab_up 2 200
ml_seed 0 "$ML/set.torrent" "$ML/set"
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
RUN=/tmp/bitlib-$UID_
MP=$RUN/mnt-${ih:0:16}
urun() {
    netlab_exec 1 runuser -u "$U" -- env -u XDG_RUNTIME_DIR -u BITLIB_RUNTIME_DIR HOME=/ \
        "$BITLIB" run --no-tracker --peer "$(netlab_ip 0):6881" "$@"
}

echo "== 4 ranks as $U (uid $UID_)"
mkdir -p "$ML/g"; chmod 777 "$ML/g"
netlab_exec 1 runuser -u "$U" -- env -u XDG_RUNTIME_DIR -u BITLIB_RUNTIME_DIR HOME=/ \
    "$HERE/lib/gate.py" 4 "$ML/g" "$BITLIB" run -v --no-tracker --peer "$(netlab_ip 0):6881" \
    "$ML/set.torrent" -- sh -c 'grep " $BITLIB_MOUNT fuse" /proc/mounts; id -u; "$BITLIB_MOUNT/bin/app";
        sleep 1' >/dev/null
for i in 1 2 3 4; do
    [[ $(cat "$ML/g/rc$i") == 0 ]] || { cat "$ML/g/err$i"; ml_fail "rank $i exited $(cat "$ML/g/rc$i")"; }
    grep -q "user_id=$UID_" "$ML/g/out$i" || ml_fail "rank $i: mount not the user's: $(cat "$ML/g/out$i")"
    grep -q "libset ok" "$ML/g/out$i" || ml_fail "rank $i: the program failed"
done
(( $(cat "$ML"/g/err* | grep -c "started the mount daemon") == 1 )) || ml_fail "not one daemon: $(cat "$ML"/g/err*)"
[[ $(stat -c '%a %U' "$RUN") == "700 $U" ]] || ml_fail "runtime dir is $(stat -c '%a %U' "$RUN")"
echo "   one daemon, mount user_id=$UID_, runtime dir $RUN mode 700 owned by $U"
sleep 0.5
rl_assert_clean "$RUN" "$MP"

echo "== the daemon runs as the user; SIGKILL of the job; the user's next run cleans up"
urun "$ML/set.torrent" -- sleep 60 &
job=$!
# wait for the mount itself, not a fixed time: under load the daemon may need more than a
# second to mount, and a job killed before that leaves no mount to clean up (seen in a full run)
for _ in $(seq 200); do
    [[ -n "$(rl_daemons "$MP")" && $(ps -o comm= --ppid "$job") == runuser ]] && (( $(rl_mounts "$MP") == 1 )) && break
    sleep 0.1
done
(( $(rl_mounts "$MP") == 1 )) || ml_fail "the job's mount did not appear within 20 s"
d=$(rl_daemons "$MP")
[[ $(ps -o user= -p "$d") == "$U" ]] || ml_fail "daemon $d runs as $(ps -o user= -p "$d")"
CACHE=$(netlab_exec 1 runuser -u "$U" -- env -u XDG_RUNTIME_DIR "$BITLIB" status "$MP" --json | jq -r .cache)
[[ $(stat -c %U "$CACHE") == "$U" ]] || ml_fail "cache $CACHE belongs to $(stat -c %U "$CACHE")"
echo "   daemon $d as $U, cache $CACHE owned by $U"
for p in $(pgrep -u "$UID_"); do kill -KILL "$p"; done
wait "$job" 2>/dev/null || true
sleep 0.3
(( $(rl_mounts "$MP") == 1 )) || ml_fail "expected the dead mount to be left"
echo "   left by SIGKILL: a dead mount and $(ls "$RUN" | tr '\n' ' ')"
out=$(urun "$ML/set.torrent" -- sh -c '"$BITLIB_MOUNT/bin/app"' 2>&1)
[[ "$out" == *"libset ok: alpha beta gamma delta"* ]] || ml_fail "run after SIGKILL: $out"
sleep 0.5
rl_assert_clean "$RUN" "$MP"
echo "   the dead mount was detached by the user's next run, which worked and left nothing"
echo PASS
