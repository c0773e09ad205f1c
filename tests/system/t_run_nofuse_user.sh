#!/usr/bin/env bash
# t_run_nofuse_user: bitlib run --no-fuse as an ordinary user (made by this test with
# useradd, removed after) on a 3-node namespace cluster (node 0 seeds as root; nodes 1 and
# 2 run as the user), where FUSE cannot be used at all: each node's commands run in a
# private mount namespace with /dev/null bound over /dev/fuse.
#   - control: a plain (FUSE) bitlib run there fails;
#   - file mode (node 1) and hybrid mode (node 2): a RUNPATH program, the same linked
#     with -z now, a dlopen() of a library not on the prefetch list, and Python importing a
#     package with pure modules, a subpackage and an extension module (through the import
#     hook, no --wait-all): outputs equal the local run's; no FUSE mount exists at any
#     time; the daemon runs as the user, its tree belongs to the user;
#   - the user's daemon killed before a dlopen: the load fails with one line naming the
#     file, within seconds;
#   - after the last rank nothing is left (no daemon, socket or registry).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETLAB_PREFIX=${NETLAB_PREFIX:-nf}
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc jq python3 useradd userdel runuser unshare
ml_init run_nofuse_user
U=blnf$$
MP=/opt/bitlib-nofuse-user-$$   # recorded in the description; never created
user_cleanup() {
    local rc=$?
    set +e
    rl_reap "$MP"
    if id "$U" >/dev/null 2>&1; then
        local uid; uid=$(id -u "$U")
        for p in $(pgrep -u "$uid" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        rm -rf "/tmp/bitlib-$uid"
        userdel "$U" 2>/dev/null || true
    fi
    rmdir "$MP" 2>/dev/null
    (exit $rc); ml_cleanup
}
trap user_cleanup EXIT
useradd -M -N -s /bin/sh "$U"
UID_=$(id -u "$U")

"$HERE/lib/mklibset.sh" "$ML/set" >/dev/null
"$HERE/lib/mkpyset.sh" "$ML/set" >/dev/null || { rc=$?; ((rc == 77)) && exit 77; exit $rc; }
cat >"$ML/appnow.c" <<'C'
#include <stdio.h>
int alpha_fill(char *out, int n);
int main(void) { char l[128]; alpha_fill(l, (int)sizeof l); printf("now ok: %s\n", l); return 0; }
C
cat >"$ML/dl.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc > 1)
        sleep((unsigned)atoi(argv[1]));
    void *h = dlopen("libunused.so", RTLD_NOW);
    if (!h) { printf("dlopen failed: %s\n", dlerror()); return 2; }
    int (*f)(void) = (int (*)(void))dlsym(h, "unused_value");
    printf("dl ok: %d\n", f());
    return 0;
}
C
gcc -o "$ML/set/bin/appnow" "$ML/appnow.c" -L"$ML/set/lib" -lalpha -Wl,-z,now \
    -Wl,-rpath,'$ORIGIN/../lib' -Wl,-rpath-link,"$ML/set/lib:$ML/set/lib/sub"
gcc -o "$ML/set/bin/dl" "$ML/dl.c" -ldl
"$BITLIB" create -q -o "$ML/set.torrent" --mount "$MP" --prefetch-from "$ML/set/bin/app" "$ML/set"
want_app=$("$ML/set/bin/app"); want_now=$("$ML/set/bin/appnow")
want_dl=$(LD_LIBRARY_PATH="$ML/set/lib" "$ML/set/bin/dl")
want_py=$(cd / && PYTHONPATH="$ML/set/py" python3 -S "$ML/pyprog.py")
chmod 755 "$ML"; chmod -R a+rX "$ML"

netlab_up 3 200
netlab_spawn 0 "$ML/seed.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" \
    --listen "$(netlab_ip 0):28881" --no-tracker >/dev/null
netlab_wait_listen 0 28881 30
for i in 1 2; do install -d -o "$U" -m 0700 "$ML/run$i" "$ML/cache$i"; done
# ufuse NODE CMD...: CMD as the user in node NODE, in a mount namespace without FUSE
ufuse() {
    local i=$1; shift
    netlab_exec "$i" unshare -m --propagation private sh -c \
        'mount --bind /dev/null /dev/fuse && exec runuser -u "$0" -- "$@"' "$U" \
        env -u XDG_RUNTIME_DIR BITLIB_RUNTIME_DIR="$ML/run$i" HOME=/ "$@"
}
urun() {   # NODE ARGS...: bitlib run --no-fuse as the user on node NODE
    local i=$1; shift
    ufuse "$i" "$BITLIB" run --no-fuse --no-tracker --listen "$(netlab_ip "$i"):28882" \
        --peer "$(netlab_ip 0):28881" --cache "$ML/cache$i" "$@"
}

echo "== control: FUSE cannot be used there"
set +e
err=$(ufuse 1 "$BITLIB" run --no-tracker --peer "$(netlab_ip 0):28881" --cache "$ML/cache1" \
      --mount "$ML/run1/mnt" "$ML/set.torrent" -- true 2>&1); rc=$?
set -e
((rc != 0)) || ml_fail "a FUSE run worked where /dev/fuse is /dev/null"
(( $(rl_mounts "$ML/run1/mnt") == 0 )) || ml_fail "a FUSE mount appeared"
rmdir "$ML/run1/mnt" 2>/dev/null || true
echo "   bitlib run with FUSE: exit $rc: $(tail -1 <<<"$err")"

expect() {   # NODE MODE WANT CMD...
    local i=$1 mode=$2 want=$3 out rc=0
    shift 3
    out=$(cd / && urun "$i" --mode "$mode" "$ML/set.torrent" -- "$@" 2>"$ML/err") || rc=$?
    ((rc == 0)) && [[ $out == "$want" ]] ||
        ml_fail "node $i $mode: $* exited $rc, printed '$out'; stderr: $(cat "$ML/err")"
}
for node_mode in "1 file" "2 hybrid"; do
    set -- $node_mode
    i=$1 mode=$2
    echo "== $mode mode on node $i as $U (uid $UID_)"
    out=$(cd / && urun "$i" --mode "$mode" "$ML/set.torrent" -- sh -c '
        echo "fuse=$(awk -v u="user_id=$(id -u)," "\$3 ~ /^fuse/ && index(\$4 \",\", u)" /proc/mounts | wc -l)"
        echo "devfuse=$(stat -L -c %t:%T /dev/fuse)"; echo "uid=$(id -u)"
        echo "daemon=$(stat -c %U /proc/$("$0" status --json "$BITLIB_MOUNT" | jq -r .pid))"
        echo "tree=$(stat -c %U "$BITLIB_TREE")"' "$BITLIB")
    # (other users' FUSE mounts on this shared machine are visible here too: not ours)
    grep -q "^fuse=0$" <<<"$out" || ml_fail "a FUSE mount of the user exists in the job's namespace: $out"
    grep -q "^devfuse=1:3$" <<<"$out" || ml_fail "/dev/fuse is not /dev/null for the job: $out"
    grep -q "^uid=$UID_$" <<<"$out" && grep -q "^daemon=$U$" <<<"$out" && grep -q "^tree=$U$" <<<"$out" ||
        ml_fail "not the user's: $out"
    expect "$i" "$mode" "$want_app" "$MP/bin/app"
    expect "$i" "$mode" "$want_now" "$MP/bin/appnow"
    expect "$i" "$mode" "$want_dl" "$MP/bin/dl"
    expect "$i" "$mode" "$want_py" python3 "$ML/pyprog.py"
    (( $(rl_mounts "$MP") == 0 )) && ! awk '$3 ~ /^fuse/' /proc/mounts | grep -q "user_id=$UID_" ||
        ml_fail "a FUSE mount of the user exists"
    echo "   no FUSE mount of $U, /dev/fuse is /dev/null; CMD, daemon and tree are $U's; app, appnow (-z now), dl (unlisted"
    echo "   dlopen), python (pure, subpackage, .pyc, extension): as the local run"
done

echo "== the user's daemon killed before a dlopen: one line naming the file, no hang"
rm -rf "$ML/cache1"; install -d -o "$U" -m 0700 "$ML/cache1"
t0=$(date +%s%N)
( set +e; cd / && urun 1 --mode file "$ML/set.torrent" -- "$MP/bin/dl" 3 >"$ML/kout" 2>"$ML/kerr"
  echo $? >"$ML/krc" ) &
job=$!
for _ in $(seq 100); do [[ -n "$(rl_daemons "$MP")" && -f "$ML/cache1/.bitlib-tree/bin/dl" ]] && break; sleep 0.05; done
victim=$(rl_daemons "$MP")
[[ -n "$victim" ]] || ml_fail "no daemon to kill"
[[ $(ps -o user= -p "$victim") == "$U" ]] || ml_fail "daemon $victim is not $U's"
kill -KILL $victim
wait "$job"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $(cat "$ML/krc") == 2 ]] || ml_fail "dl exited $(cat "$ML/krc"): $(cat "$ML/kout" "$ML/kerr")"
grep -q "^bitlib-audit: cannot load $ML/cache1/.bitlib-tree/lib/libunused.so: " "$ML/kerr" ||
    ml_fail "no line naming the file: $(cat "$ML/kerr")"
((ms < 15000)) || ml_fail "the failure took $ms ms"
echo "   in $ms ms (3 s of it the program's sleep): $(cat "$ML/kerr")"

out=$(cd / && urun 1 --mode file "$ML/set.torrent" -- "$MP/bin/dl")
[[ $out == "$want_dl" ]] || ml_fail "the run after the kill printed '$out'"
sleep 0.5
rl_assert_clean "$ML/run1" "$MP"
rl_assert_clean "$ML/run2" "$MP"
[[ ! -e $MP ]] || ml_fail "$MP was created"
echo "   the next run worked; nothing is left (no daemon, socket or registry; $MP never made)"
echo PASS
