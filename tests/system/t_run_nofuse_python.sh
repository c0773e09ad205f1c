#!/usr/bin/env bash
# t_run_nofuse_python: Python imports under bitlib run --no-fuse in file mode (no
# --wait-all), through the import hook (src/audit/python), on a 4-node namespace cluster
# (node 0 seeds, nodes 1-3 run at once), FUSE unused.
#   - a package with pure modules, a subpackage, a module with its __pycache__ .pyc and an
#     extension module, none of it local when the program starts: the output equals the
#     local run's on every node;
#   - each node's daemon counts exactly one fetch per file imported (6: __init__.py,
#     the extension, pure.py and its .pyc, sub/__init__.py, sub/deep.py); the files never
#     imported are not in the tree; standard-library modules and names the set lacks cost
#     no fetch; Python writes no .pyc into the tree; the extension module is dlopen()ed through the audit library, from the tree;
#   - a sitecustomize on the caller's PYTHONPATH still runs after the hook's;
#   - a PYTHONPATH under the mount point (which does not exist) imports from the tree;
#   - a module file another process of the node fetched after this one had listed its
#     directory is found (the tree's directories keep the description's mtime, so the path
#     finder would not list them again by itself);
#   - two threads importing at the same moment both get their modules (CPython runs the
#     finders under its import lock: the second waits behind the first's fetch);
#   - not covered, as documented: in file mode pkgutil.iter_modules lists only the local
#     modules and package data is missing until local; --wait-all gives both;
#   - the daemon killed before an import: ImportError naming the file, within seconds;
#     a stopped daemon: ImportError after the timeout (read timeout + 10 s), never a hang.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETLAB_PREFIX=${NETLAB_PREFIX:-nf}
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc jq python3
ml_init run_nofuse_python
MP=/opt/bitlib-nofuse-py-$$   # recorded in the description; never created
trap 'rc=$?; set +e; rl_reap "$MP"; rmdir "$MP" 2>/dev/null; (exit $rc); ml_cleanup' EXIT

"$HERE/lib/mkpyset.sh" "$ML/set" >/dev/null || { rc=$?; ((rc == 77)) && exit 77; exit $rc; }
EXT=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
PYC=$(cd "$ML/set/py" && python3 -c 'import importlib.util as u; print(u.cache_from_source("blpkg/pure.py"))')
"$BITLIB" create -q -o "$ML/set.torrent" --mount "$MP" "$ML/set"
want=$(cd / && PYTHONPATH="$ML/set/py" python3 -S "$ML/pyprog.py")
grep -q "^pure 42 deep blpkg.sub.deep ext 42$" <<<"$want" || ml_fail "the local run printed: $want"
grep -q "^cached" <<<"$want" || ml_fail "the local run did not use the .pyc: $want"
IMPORTED="py/blpkg/__init__.py py/blpkg/_blext$EXT py/blpkg/pure.py py/$PYC py/blpkg/sub/__init__.py py/blpkg/sub/deep.py"

netlab_up 4 200
netlab_spawn 0 "$ML/seed.log" "$BITLIB" seed "$ML/set.torrent" "$ML/set" \
    --listen "$(netlab_ip 0):28881" --no-tracker >/dev/null
netlab_wait_listen 0 28881 30
brun() {   # NODE ARGS...: bitlib run --no-fuse on node NODE, its own runtime dir and cache
    local i=$1; shift
    mkdir -p "$ML/run$i"
    # (without PYTHONDONTWRITEBYTECODE, which a CI environment may set: Python would write
    # .pyc files if it could)
    BITLIB_RUNTIME_DIR=$ML/run$i netlab_exec "$i" env -u PYTHONDONTWRITEBYTECODE "$BITLIB" run --no-fuse --no-tracker \
        --listen "$(netlab_ip "$i"):28882" --peer "$(netlab_ip 0):28881" --cache "$ML/cache$i" "$@"
}
fetches() { BITLIB_RUNTIME_DIR=$ML/run$1 "$BITLIB" status --json "$MP" | jq .fetches; }

echo "== file mode on nodes 1-3 at once: imports wait for their files"
mkdir -p "$ML/usersite"
printf 'import sys\nsys.stderr.write("user sitecustomize ran\\n")\n' >"$ML/usersite/sitecustomize.py"
pids=()
for i in 1 2 3; do
    # the daemon stays (--keep) so that its counters can be read after the program
    brun "$i" --mode file --keep "$ML/set.torrent" -- true
    [[ $(fetches "$i") == 0 ]] || ml_fail "node $i: fetches before the program"
    (
        set +e
        pp=; ((i == 3)) && pp=$ML/usersite   # node 3: the caller has a PYTHONPATH
        cd / && PYTHONPATH=$pp BITLIB_AUDIT_VERBOSE=1 brun "$i" --mode file "$ML/set.torrent" -- \
            sh -c 'echo "fuse=$(awk "\$3 ~ /^fuse/" /proc/mounts | wc -l) mp=$(awk -v mp="$BITLIB_MOUNT" "\$2 == mp" /proc/mounts | wc -l)" >&2; exec python3 "$0"' \
            "$ML/pyprog.py" >"$ML/out$i" 2>"$ML/err$i"
        echo $? >"$ML/rc$i"
    ) &
    pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3; do
    [[ $(cat "$ML/rc$i") == 0 && $(cat "$ML/out$i") == "$want" ]] ||
        ml_fail "node $i: exit $(cat "$ML/rc$i"), printed '$(cat "$ML/out$i")'; stderr: $(cat "$ML/err$i")"
    grep -q "^fuse=.* mp=0$" "$ML/err$i" || ml_fail "node $i: something is mounted at $MP: $(grep ^fuse= "$ML/err$i")"
    f=$(fetches "$i")
    ((f == 6)) || ml_fail "node $i: the daemon counted $f fetches, expected 6 (the files imported): $(cat "$ML/err$i")"
    got=$(sed -n 's/^bitlib-python: .* -> \(.*\) (fetched)$/\1/p' "$ML/err$i" | sed "s|^$ML/cache$i/.bitlib-tree/||" | sort | tr '\n' ' ')
    exp=$(tr ' ' '\n' <<<"$IMPORTED" | sort | tr '\n' ' ')
    [[ $got == "$exp" ]] || ml_fail "node $i: the hook fetched '$got', expected '$exp'"
    T=$ML/cache$i/.bitlib-tree
    for f in $IMPORTED; do [[ -f $T/$f ]] || ml_fail "node $i: $f is not in the tree"; done
    for f in py/blpkg/unused.py py/blpkg/data.bin; do
        [[ ! -e $T/$f ]] || ml_fail "node $i: $f is in the tree, never imported (file mode)"
    done
    # nothing but the set's files in the tree: Python wrote no .pyc into it
    extra=$(cd "$T" && find . -name '*.pyc' | sed 's|^\./||' | grep -vx "py/$PYC" || true)
    [[ -z $extra ]] || ml_fail "node $i: Python wrote into the tree: $extra"
    grep -q "^bitlib-audit: $T/py/blpkg/_blext$EXT -> $T/py/blpkg/_blext$EXT (local)$" "$ML/err$i" ||
        ml_fail "node $i: the extension module did not load through the audit library: $(cat "$ML/err$i")"
    grep -v '^fuse=\|^bitlib-python: \|^bitlib-audit: ' "$ML/err$i" | grep -v "^user sitecustomize ran$" | grep . &&
        ml_fail "node $i: unexpected stderr"
done
grep -q "^user sitecustomize ran$" "$ML/err3" || ml_fail "the caller's sitecustomize did not run: $(cat "$ML/err3")"
(( $(rl_mounts "$MP") == 0 )) || ml_fail "a FUSE mount exists at $MP"
echo "   3 nodes: output as the local run; each daemon counted 6 fetches, the 6 files imported"
echo "   (extension, .pyc included); unused.py and data.bin never fetched; json and the"
echo "   names the set lacks cost nothing; the caller's sitecustomize ran after the hook"

echo "== a second run on node 1: everything is local, no fetch"
out=$(cd / && brun 1 --mode file "$ML/set.torrent" -- python3 "$ML/pyprog.py")
[[ $out == "$want" ]] || ml_fail "the second run printed '$out'"
[[ $(fetches 1) == 6 ]] || ml_fail "the second run fetched again: $(fetches 1)"
echo "   output as before, still 6 fetches"
for i in 1 2 3; do
    d=$(BITLIB_RUNTIME_DIR=$ML/run$i "$BITLIB" status --json "$MP" | jq .pid)
    kill -TERM "$d"
done
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done
[[ -z "$(rl_daemons "$MP")" ]] || ml_fail "the kept daemons did not stop"

echo "== a file another process of the node fetched, after this one listed the directory"
rm -rf "$ML/cache2"   # nothing local
cat >"$ML/two.py" <<'PY'
import subprocess, sys
import blpkg                    # fetches __init__.py and the extension
try:
    import blpkg.nosuch         # the path finder lists blpkg/ now, without pure.py
except ModuleNotFoundError:
    pass
subprocess.run([sys.executable, "-c", "import blpkg.pure"], check=True)   # fetches pure.py
import blpkg.pure               # local now, but not in this process's listing of blpkg/
print("after the other process:", blpkg.pure.twice(2))
PY
out=$(cd / && brun 2 --mode file "$ML/set.torrent" -- python3 "$ML/two.py" 2>&1) ||
    ml_fail "two processes: $out"
[[ $out == "after the other process: 4" ]] || ml_fail "two processes printed '$out'"
echo "   $out"

echo "== PYTHONPATH under the mount point (as a job script written for the mount sets it)"
rm -rf "$ML/cache2"
out=$(cd / && PYTHONPATH=$MP/py brun 2 --mode file --env PYTHONPATH= "$ML/set.torrent" -- python3 -c '
import os, blpkg.pure
print(blpkg.pure.twice(4), blpkg.mul(2, 3), os.environ["PYTHONPATH"].split(":")[1:],
      blpkg.pure.__file__.startswith(os.environ["BITLIB_TREE"] + "/"))' 2>&1) || ml_fail "PYTHONPATH=$MP/py: $out"
[[ $out == "8 6 ['$MP/py'] True" ]] || ml_fail "PYTHONPATH=$MP/py printed '$out'"
echo "   PYTHONPATH=$MP/py (never made): imported from the tree, $out"

echo "== two threads importing at the same moment, both waiting for the daemon"
rm -rf "$ML/cache2"
cat >"$ML/threads.py" <<'PY'
import json, os, signal, subprocess, sys, threading, time
import blpkg                    # fetched while the daemon runs
st = json.loads(subprocess.run([sys.argv[1], "status", "--json", os.environ["BITLIB_MOUNT"]],
                               capture_output=True, check=True).stdout)
got = {}
def imp(name):
    try:
        __import__(name)
        got[name] = "ok"
    except ImportError as e:
        got[name] = "%s: %s" % (type(e).__name__, e)
os.kill(st["pid"], signal.SIGSTOP)   # both imports now wait inside the hook
try:
    a = threading.Thread(target=imp, args=("blpkg.pure",)); a.start(); time.sleep(0.3)
    b = threading.Thread(target=imp, args=("blpkg.sub.deep",)); b.start(); time.sleep(0.3)
finally:
    os.kill(st["pid"], signal.SIGCONT)
a.join(); b.join()
print(got["blpkg.pure"], got["blpkg.sub.deep"])
PY
out=$(cd / && brun 2 --mode file "$ML/set.torrent" -- python3 "$ML/threads.py" "$BITLIB" 2>&1) ||
    ml_fail "threads: $out"
[[ $out == "ok ok" ]] || ml_fail "two threads importing at once: $out"
echo "   both imports worked (the second thread waited behind the first's fetch)"

echo "== what the hook does not cover (documented): package data and directory listings"
rm -rf "$ML/cache2"
cat >"$ML/limits.py" <<'PY'
import os, pkgutil
import blpkg
d = os.path.dirname(blpkg.__file__)
print("listed:", sorted(m.name for m in pkgutil.iter_modules(blpkg.__path__)))
try:
    open(os.path.join(d, "data.bin"), "rb").close()
    print("data.bin: there")
except FileNotFoundError:
    print("data.bin: missing")
import blpkg.pure
print("listed after importing pure:", sorted(m.name for m in pkgutil.iter_modules(blpkg.__path__)))
PY
out=$(cd / && brun 2 --mode file "$ML/set.torrent" -- python3 "$ML/limits.py" 2>&1) || ml_fail "limits: $out"
want_l=$(printf '%s\n' "listed: ['_blext']" "data.bin: missing" "listed after importing pure: ['_blext', 'pure']")
[[ $out == "$want_l" ]] || ml_fail "file mode, not yet local: expected
$want_l
got
$out"
echo "   file mode: pkgutil.iter_modules lists only the local modules (_blext, not pure, sub,"
echo "   unused); package data (data.bin) is missing until local; --wait-all covers both"
out=$(cd / && brun 2 --mode file --wait-all "$ML/set.torrent" -- python3 "$ML/limits.py" 2>&1) || ml_fail "limits --wait-all: $out"
grep -q "^data.bin: there$" <<<"$out" && grep -q "^listed: \['_blext', 'pure', 'sub', 'unused'\]$" <<<"$out" ||
    ml_fail "--wait-all: $out"
echo "   with --wait-all: $(head -1 <<<"$out"), data.bin there"

PROG='import time; time.sleep(3); import blpkg.pure'
echo "== the daemon killed before an import: ImportError naming the file, no hang"
rm -rf "$ML/cache2"   # nothing local
t0=$(date +%s%N)
( set +e; cd / && brun 2 --mode file --read-timeout 5 "$ML/set.torrent" -- python3 -c "$PROG" \
      >"$ML/kout" 2>"$ML/kerr"; echo $? >"$ML/krc" ) &
job=$!
for _ in $(seq 100); do [[ -n "$(rl_daemons "$MP")" ]] && break; sleep 0.05; done
sleep 0.5
victim=$(rl_daemons "$MP")
[[ -n "$victim" ]] || ml_fail "no daemon to kill"
kill -KILL $victim
wait "$job"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $(cat "$ML/krc") == 1 ]] || ml_fail "python exited $(cat "$ML/krc"): $(cat "$ML/kout" "$ML/kerr")"
line="ImportError: bitlib: cannot import blpkg: $ML/cache2/.bitlib-tree/py/blpkg/__init__.py: no bitlib daemon answers on"
grep -qF "$line" "$ML/kerr" || ml_fail "no ImportError naming the file: $(cat "$ML/kerr")"
((ms < 15000)) || ml_fail "the failure took $ms ms"
echo "   in $ms ms (3 s of it the program's sleep): $(tail -1 "$ML/kerr")"

echo "== a stopped daemon: ImportError after the timeout"
rm -rf "$ML/cache2"
t0=$(date +%s%N)
( set +e; cd / && brun 2 --mode file --read-timeout 1 "$ML/set.torrent" -- python3 -c "$PROG" \
      >"$ML/sout" 2>"$ML/serr"; echo $? >"$ML/src" ) &
job=$!
for _ in $(seq 100); do [[ -n "$(rl_daemons "$MP")" ]] && break; sleep 0.05; done
sleep 0.5
victim=$(rl_daemons "$MP")
[[ -n "$victim" ]] || ml_fail "no daemon to stop"
kill -STOP $victim
wait "$job"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT $victim
[[ $(cat "$ML/src") == 1 ]] || ml_fail "python exited $(cat "$ML/src"): $(cat "$ML/sout" "$ML/serr")"
grep -q "ImportError: bitlib: cannot import blpkg: .*/py/blpkg/__init__.py: the bitlib daemon on .* did not answer within 11000 ms" \
    "$ML/serr" || ml_fail "no timeout ImportError: $(cat "$ML/serr")"
((ms >= 11000 && ms < 25000)) || ml_fail "the failure took $ms ms"
echo "   in $ms ms: $(tail -1 "$ML/serr")"
for _ in $(seq 50); do [[ -z "$(rl_daemons "$MP")" ]] && break; sleep 0.1; done
[[ -z "$(rl_daemons "$MP")" ]] || ml_fail "the stopped daemon did not leave after its rank"
sleep 0.3
for i in 1 2 3; do rl_assert_clean "$ML/run$i" "$MP"; done
[[ ! -e $MP ]] || ml_fail "$MP was created"
echo "   nothing is left (no daemon, socket or registry; $MP never made)"
echo PASS
