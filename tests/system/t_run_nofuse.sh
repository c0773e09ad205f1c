#!/usr/bin/env bash
# t_run_nofuse: bitlib run --no-fuse on a 5-node namespace cluster (node 0 seeds, nodes 1
# to 4 run), FUSE unused.
#   - the set's description records a mount point that does not exist and is never made;
#     no FUSE mount exists while programs run; the daemon is `bitlib mount --no-fuse`;
#   - file mode (node 1): a program with RUNPATH $ORIGIN/../lib, the same linked with
#     -z now, a program that dlopen()s a library not on the prefetch list through
#     LD_LIBRARY_PATH, one in LD_LIBRARY_PATH's second directory, and a system library (outside the set: passes through), and Python
#     importing a package with an extension module: outputs equal the local run's;
#   - hybrid mode (node 2): the same, and the rest of the set arrives in the tree in the
#     background; tree files have the description's modes and mtimes, symlinks as in the set;
#   - the daemon killed while a program still has a library to dlopen: that load fails
#     within seconds with one line naming the file; a daemon that is stopped (SIGSTOP)
#     fails it after the timeout (read timeout + 10 s); never a hang;
#   - a caller's LD_AUDIT library is chained after ours and sees the names we rewrote;
#   - after the last rank, the daemon exits and leaves no socket or registry.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETLAB_PREFIX=${NETLAB_PREFIX:-nf}
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc jq python3
ml_init run_nofuse
MP=/opt/bitlib-nofuse-$$   # recorded in the description; must never be created
trap 'rc=$?; set +e; rl_reap "$MP"; rmdir "$MP" 2>/dev/null; (exit $rc); ml_cleanup' EXIT
[[ ! -e $MP ]] || ml_fail "$MP exists before the test"

"$HERE/lib/mklibset.sh" "$ML/set" >/dev/null
"$HERE/lib/mkpyext.sh" "$ML/set" >/dev/null || { rc=$?; ((rc == 77)) && exit 77; exit $rc; }
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
    if (!dlopen("libm.so.6", RTLD_NOW)) { printf("libm: %s\n", dlerror()); return 3; }
    void *h = dlopen("libunused.so", RTLD_NOW);
    if (!h) { printf("dlopen failed: %s\n", dlerror()); return 2; }
    int (*f)(void) = (int (*)(void))dlsym(h, "unused_value");
    /* lib/sub, LD_LIBRARY_PATH's second directory: the first one's miss must not end
       the search */
    void *d = dlopen("libdelta.so", RTLD_NOW);
    if (!d) { printf("libdelta: %s\n", dlerror()); return 4; }
    const char *(*dn)(void) = (const char *(*)(void))dlsym(d, "delta_name");
    printf("dl ok: %d %s\n", f(), dn());
    return 0;
}
C
gcc -o "$ML/set/bin/appnow" "$ML/appnow.c" -L"$ML/set/lib" -lalpha -Wl,-z,now \
    -Wl,-rpath,'$ORIGIN/../lib' -Wl,-rpath-link,"$ML/set/lib:$ML/set/lib/sub"
gcc -o "$ML/set/bin/dl" "$ML/dl.c" -ldl
readelf -d "$ML/set/bin/appnow" | grep -q 'BIND_NOW\|FLAGS.*NOW' || ml_fail "appnow is not -z now"
"$BITLIB" create -q -o "$ML/set.torrent" --mount "$MP" --prefetch-from "$ML/set/bin/app" "$ML/set"
jq -e '.prefetch | index("lib/libunused.so") | not' <("$BITLIB" inspect --json "$ML/set.torrent") \
    >/dev/null || ml_fail "libunused.so is on the prefetch list"

# the local run: what every node must print
PY='import blpkg; print("py ok:", blpkg.mul(6, 7))'
want_app=$("$ML/set/bin/app"); want_now=$("$ML/set/bin/appnow")
want_dl=$(LD_LIBRARY_PATH="$ML/set/lib:$ML/set/lib/sub" "$ML/set/bin/dl"); want_py=$(PYTHONPATH="$ML/set/py" python3 -c "$PY")

netlab_up 5 200
netlab_spawn 0 "$ML/seed.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" \
    --listen "$(netlab_ip 0):28881" --no-tracker >/dev/null
netlab_wait_listen 0 28881 30
# node I: its own runtime directory and cache, as on a real node
brun() {
    local i=$1; shift
    BITLIB_RUNTIME_DIR=$ML/run$i netlab_exec "$i" "$BITLIB" run --no-fuse --no-tracker \
        --listen "$(netlab_ip "$i"):28882" --peer "$(netlab_ip 0):28881" --cache "$ML/cache$i" "$@"
}
mkdir -p "$ML/run1" "$ML/run2" "$ML/run3" "$ML/run4"

expect() {   # NODE MODE WANT CMD...: bitlib run --no-fuse prints WANT on stdout, exits 0
    local i=$1 mode=$2 want=$3 out rc=0
    shift 3
    out=$(brun "$i" --mode "$mode" "$ML/set.torrent" -- "$@" 2>"$ML/err") || rc=$?
    ((rc == 0)) && [[ $out == "$want" ]] ||
        ml_fail "node $i $mode: $* exited $rc, printed '$out'; stderr: $(cat "$ML/err")"
}
check_node() {   # NODE MODE
    expect "$1" "$2" "$want_app" "$MP/bin/app"
    expect "$1" "$2" "$want_now" "$MP/bin/appnow"
    expect "$1" "$2" "$want_dl" "$MP/bin/dl"
    expect "$1" "$2" "$want_py" python3 -c "$PY"
    echo "   node $1 ($2): app, appnow (-z now), dl (dlopen of an unlisted library + libm), python: as the local run"
}

echo "== file mode on node 1, while no FUSE mount exists"
out=$(brun 1 --mode file "$ML/set.torrent" -- sh -c '
    echo "fuse=$(awk -v mp="$BITLIB_MOUNT" "\$2 == mp" /proc/mounts | wc -l)"
    echo "mp=$([ -e "$BITLIB_MOUNT" ] && echo exists || echo absent)"
    echo "tree=$BITLIB_TREE"; echo "audit=$LD_AUDIT"; echo "llp=$LD_LIBRARY_PATH"
    echo "daemon=$(tr "\0" " " </proc/$("$0" status --json "$BITLIB_MOUNT" | jq -r .pid)/cmdline)"' "$BITLIB")
grep -q '^fuse=0$' <<<"$out" || ml_fail "a FUSE mount exists: $out"
grep -q '^mp=absent$' <<<"$out" || ml_fail "$MP was created"
TREE1=$(sed -n 's/^tree=//p' <<<"$out")
grep -q "^llp=$TREE1/lib:$TREE1/lib/sub" <<<"$out" || ml_fail "LD_LIBRARY_PATH is not the tree's lib:lib/sub: $out"
grep -q "^audit=.*libbitlib-audit.so$" <<<"$out" || ml_fail "no LD_AUDIT: $out"
grep -q "^daemon=.* mount .*--no-fuse" <<<"$out" || ml_fail "the daemon is not bitlib mount --no-fuse: $out"
echo "   no FUSE mount, $MP absent, LD_AUDIT set, LD_LIBRARY_PATH under the tree $TREE1"
check_node 1 file
# file mode: only what was asked for is in the tree (the Python package and the programs);
# nothing else arrived on its own
for f in bin/app bin/appnow bin/dl lib/libunused.so lib/sub/libdelta.so py/blpkg/__init__.py; do
    [[ -f "$TREE1/$f" ]] || ml_fail "file mode: $f is not in the tree after use"
done
ls "$TREE1"/lib/.*.bitlib-tmp 2>/dev/null && ml_fail "temporary files left in the tree"
echo "   the files used are in the tree; no temporary names are left"

echo "== a name outside the set passes through; names the set lacks never reach the daemon"
brun 1 --mode file --keep "$ML/set.torrent" -- true
st=$(BITLIB_RUNTIME_DIR=$ML/run1 "$BITLIB" status --json "$MP")
f0=$(jq .fetches <<<"$st")
err=$(BITLIB_AUDIT_VERBOSE=1 brun 1 --mode file "$ML/set.torrent" -- "$MP/bin/dl" 2>&1 >/dev/null)
f1=$(BITLIB_RUNTIME_DIR=$ML/run1 "$BITLIB" status --json "$MP" | jq .fetches)
grep -q "libunused.so -> $TREE1/lib/libunused.so (local)" <<<"$err" || ml_fail "dlopen not redirected: $err"
grep -q "libm\|libc" <<<"$err" && ml_fail "a system library went through the audit library: $err"
# bitlib run asks for CMD only (Python modules are fetched when imported, by the import
# hook); the loader's misses (libm.so.6 and libc.so.6 under both LD_LIBRARY_PATH
# directories) ask nothing
((f1 - f0 == 1)) || ml_fail "the daemon got $((f1 - f0)) fetches for one run, expected 1"
echo "   libm and libc passed through untouched, libunused.so came from the tree; the run cost the daemon $((f1 - f0)) fetch (CMD), the misses none"
kill -TERM "$(jq .pid <<<"$st")"
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done

echo "== hybrid mode on node 2: the rest of the set arrives in the background"
check_node 2 hybrid
out=$(brun 2 --mode hybrid --keep "$ML/set.torrent" -- sh -c 'echo "$BITLIB_TREE"')
TREE2=$out
for _ in $(seq 100); do [[ -f "$TREE2/lib/libunused.so" && -f "$TREE2/py/blpkg/__init__.py" ]] && break; sleep 0.1; done
(cd "$ML/set" && find . ! -name . -printf '%y %m %T@ %l %s %p\n' | sed 's/\.[0-9]* / /' | sort) >"$ML/want.meta"
(cd "$TREE2" && find . ! -name . -printf '%y %m %T@ %l %s %p\n' | sed 's/\.[0-9]* / /' | sort) >"$ML/got.meta"
diff "$ML/want.meta" "$ML/got.meta" || ml_fail "the tree differs from the set (type mode mtime target size path)"
cmp -s "$ML/set/lib/libunused.so" "$TREE2/lib/libunused.so" || ml_fail "libunused.so differs"
echo "   the whole tree is there, never asked for; types, modes, mtimes, symlinks and sizes as in the set"
d2=$(rl_daemons "$MP")
kill -TERM $d2
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done

echo "== nodes 3 (file) and 4 (hybrid) at the same time, each its own daemon and tree"
check_node 3 file >"$ML/node3.out" 2>&1 & n3=$!
check_node 4 hybrid >"$ML/node4.out" 2>&1 & n4=$!
rc3=0 rc4=0
wait "$n3" || rc3=$?
wait "$n4" || rc4=$?
cat "$ML/node3.out" "$ML/node4.out"
((rc3 == 0 && rc4 == 0)) || ml_fail "nodes 3/4 failed (exit $rc3/$rc4)"
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done

echo "== the daemon killed before a dlopen: a clear failure, no hang"
rm -rf "$ML/cache2"
t0=$(date +%s%N)
( set +e; brun 2 --mode file "$ML/set.torrent" -- "$MP/bin/dl" 3 >"$ML/kout" 2>"$ML/kerr"; echo $? >"$ML/krc" ) &
job=$!
for _ in $(seq 100); do [[ -n "$(rl_daemons "$MP")" ]] && [[ -f "$ML/cache2/.bitlib-tree/bin/dl" ]] && break; sleep 0.05; done
victim=$(rl_daemons "$MP")
[[ -n "$victim" ]] || ml_fail "no daemon to kill"
kill -KILL $victim
wait "$job"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $(cat "$ML/krc") == 2 ]] || ml_fail "dl exited $(cat "$ML/krc"): $(cat "$ML/kout" "$ML/kerr")"
grep -q "^bitlib-audit: cannot load $ML/cache2/.bitlib-tree/lib/libunused.so: " "$ML/kerr" || ml_fail "no line naming the file: $(cat "$ML/kerr")"
(( $(grep -c . "$ML/kerr") == 1 )) || ml_fail "more than one line: $(cat "$ML/kerr")"
((ms < 15000)) || ml_fail "the failure took $ms ms"
echo "   in $ms ms (3 s of it the program's sleep): $(cat "$ML/kerr")"
echo "== a stopped daemon: the load fails after the timeout"
rm -rf "$ML/cache2"
t0=$(date +%s%N)
( set +e; brun 2 --mode file --read-timeout 1 "$ML/set.torrent" -- "$MP/bin/dl" 2 >"$ML/sout" 2>"$ML/serr"
  echo $? >"$ML/src" ) &
job=$!
for _ in $(seq 100); do [[ -n "$(rl_daemons "$MP")" ]] && [[ -f "$ML/cache2/.bitlib-tree/bin/dl" ]] && break; sleep 0.05; done
victim=$(rl_daemons "$MP")
[[ -n "$victim" ]] || ml_fail "no daemon to stop"
kill -STOP $victim
wait "$job"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT $victim
[[ $(cat "$ML/src") == 2 ]] || ml_fail "dl exited $(cat "$ML/src"): $(cat "$ML/sout" "$ML/serr")"
grep -q "^bitlib-audit: cannot load $ML/cache2/.bitlib-tree/lib/libunused.so: .*did not answer within 11000 ms" \
    "$ML/serr" || ml_fail "no timeout line: $(cat "$ML/serr")"
((ms >= 11000 && ms < 25000)) || ml_fail "the failure took $ms ms"
echo "   in $ms ms: $(cat "$ML/serr")"
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done
[[ -z "$(rl_daemons "$MP")" ]] || ml_fail "the stopped daemon did not leave after its rank"

echo "== a caller's LD_AUDIT is chained after ours"
cat >"$ML/other.c" <<'C'
#include <link.h>
#include <stdio.h>
#include <string.h>
unsigned int la_version(unsigned int v) { return v < LAV_CURRENT ? v : LAV_CURRENT; }
char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    (void)cookie; (void)flag;
    if (strstr(name, "libunused"))
        fprintf(stderr, "other-audit: %s\n", name);
    return (char *)name;
}
C
gcc -D_GNU_SOURCE -shared -fPIC -o "$ML/other.so" "$ML/other.c"
out=$(LD_AUDIT=$ML/other.so brun 2 --mode file "$ML/set.torrent" -- "$MP/bin/dl" 2>"$ML/cerr")
[[ $out == "$want_dl" ]] || ml_fail "with a second audit library dl printed '$out': $(cat "$ML/cerr")"
grep -q "^other-audit: $ML/cache2/.bitlib-tree/lib/libunused.so$" "$ML/cerr" ||
    ml_fail "the caller's audit library did not see our answer: $(cat "$ML/cerr")"
echo "   dl worked; the caller's audit library saw: $(grep other-audit "$ML/cerr" | tr "\n" " ")"

# the killed daemon's socket is debris the next run clears
out=$(brun 2 --mode file "$ML/set.torrent" -- "$MP/bin/dl")
[[ $out == "$want_dl" ]] || ml_fail "the run after the kill printed '$out'"
sleep 0.5
rl_assert_clean "$ML/run2" "$MP"
rl_assert_clean "$ML/run1" "$MP"
[[ ! -e $MP ]] || ml_fail "$MP was created"
echo "   the next run worked; nothing is left (no daemon, socket or registry; $MP never made)"

echo "== a daemon of the other kind on the mount point is refused"
brun 2 --mode file --keep "$ML/set.torrent" -- true
d=$(rl_daemons "$MP")
set +e
err=$(BITLIB_RUNTIME_DIR=$ML/run2 netlab_exec 2 "$BITLIB" run --no-tracker --cache "$ML/cache2" \
    "$ML/set.torrent" -- true 2>&1); rc=$?
set -e
((rc == 1)) && [[ $err == *"served by a daemon (pid $d) without FUSE"* ]] && (( $(wc -l <<<"$err") == 1 )) ||
    ml_fail "a FUSE run on the tree daemon's mount point: exit $rc, '$err'"
(( $(rl_mounts "$MP") == 0 )) || ml_fail "a FUSE mount appeared"
kill -TERM $d
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done
rmdir "$MP" 2>/dev/null || true   # bitlib run (with FUSE) makes its mount point
sleep 0.3
rl_assert_clean "$ML/run2" "$MP"
echo "   $err"
echo PASS
