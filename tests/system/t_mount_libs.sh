#!/usr/bin/env bash
# t_mount_libs: programs load their libraries from a bitlib mount.
#
# Cluster of 4 namespace nodes: node 0 seeds the set; nodes 1-3 mount it (hybrid mode,
# the default).  Checks, on the mounts:
#   - a program outside the mount whose libraries exist only in the mount runs via
#     LD_LIBRARY_PATH (alpha -> beta -> gamma -> delta chain from mklibset.sh), on every node;
#   - python3 imports a package from the mount whose module is a compiled C extension;
#   - in hybrid mode, dlopen of a library that is not on the prefetch list works and fetches
#     that file only (bytes_downloaded grows by that file's pieces, other unlisted files
#     stay remote, checked through bitlib status --json);
#   - SIGTERM unmounts cleanly.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
PY=/usr/bin/python3
ml_require gcc "$PY"
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
EXT=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
[[ -f "$PYINC/Python.h" ]] || { echo "SKIP: no Python.h for $PY (install python3-dev)"; exit 77; }
ml_init mount_libs

echo "== building the set: mklibset + a python package with a C extension"
set_dir=$ML/set
"$HERE/lib/mklibset.sh" "$set_dir" >/dev/null
mkdir -p "$set_dir/py/blpkg"
cat >"$ML/blext.c" <<'C'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *mul(PyObject *self, PyObject *args)
{
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a * b);
}
static PyMethodDef methods[] = {{"mul", mul, METH_VARARGS, "a*b"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_blext", NULL, -1, methods};
PyMODINIT_FUNC PyInit__blext(void) { return PyModule_Create(&mod); }
C
gcc -shared -fPIC -O1 -I"$PYINC" -o "$set_dir/py/blpkg/_blext$EXT" "$ML/blext.c"
printf 'from ._blext import mul\nVERSION = "bitlib-test"\n' >"$set_dir/py/blpkg/__init__.py"
# a program that finds its libraries only through LD_LIBRARY_PATH (no RUNPATH)
cat >"$ML/main.c" <<'C'
#include <stdio.h>
int alpha_fill(char *out, int n);
int main(void) { char b[128]; alpha_fill(b, 128); printf("ldpath ok: %s\n", b); return 0; }
C
gcc -O1 -o "$ML/main" "$ML/main.c" -L"$set_dir/lib" -lalpha -Wl,-rpath-link,"$set_dir/lib:$set_dir/lib/sub"
"$BITLIB" create -q -o "$ML/set.torrent" --prefetch-from "$set_dir/bin/app" "$set_dir"
echo "   prefetch list: $("$BITLIB" inspect --json "$ML/set.torrent" | jq -c '.prefetch')"

netlab_up 4 200
ml_seed 0 "$ML/set.torrent" "$set_dir"
peer="$(netlab_ip 0):6881"
for i in 1 2 3; do
    ml_mount "$i" "$ML/set.torrent" "$ML/mnt$i" --peer "$peer"
done
m=$ML/mnt1

echo "== the prefetch list arrives without being asked"
ml_wait "$m" '.queue.prefetch == 0 and .pieces_had > 0' 30
echo "   $(ml_status "$m" | jq -c '{pieces_had, pieces_total, bytes_downloaded}')"

echo "== a program outside the mount runs with LD_LIBRARY_PATH into the mount (every node)"
for i in 1 2 3; do
    out=$(timeout 60 env LD_LIBRARY_PATH="$ML/mnt$i/lib:$ML/mnt$i/lib/sub" "$ML/main")
    [[ "$out" == "ldpath ok: alpha beta gamma delta" ]] || ml_fail "node $i: main printed '$out'"
    out=$(timeout 60 env -u LD_LIBRARY_PATH "$ML/mnt$i/bin/app")
    [[ "$out" == "libset ok: alpha beta gamma delta" ]] || ml_fail "node $i: app printed '$out'"
done
echo "   ok on nodes 1 2 3"

echo "== dlopen of a library off the prefetch list fetches that file only (node 2)"
m2=$ML/mnt2
ml_wait "$m2" '.queue.prefetch == 0' 30
plen=$(ml_num "$m2" .piece_length)
usize=$(stat -c %s "$set_dir/lib/libunused.so")
[[ $("$BITLIB" status "$m2" --lookup lib/libunused.so | jq -r .local) == false ]] ||
    ml_fail "libunused.so is local before anyone asked for it"
before=$(ml_num "$m2" .bytes_downloaded)
had_before=$(ml_num "$m2" .pieces_had)
v=$(timeout 60 "$PY" -c 'import ctypes,sys; print(ctypes.CDLL(sys.argv[1]).unused_value())' "$m2/lib/libunused.so")
[[ "$v" == 42 ]] || ml_fail "dlopen'ed library returned '$v'"
after=$(ml_num "$m2" .bytes_downloaded)
had_after=$(ml_num "$m2" .pieces_had)
got=$((after - before))
max=$(( (usize + plen - 1) / plen * plen ))
echo "   libunused.so: $usize bytes, piece $plen; downloaded $got bytes, pieces $had_before -> $had_after"
((got >= usize && got <= max)) || ml_fail "dlopen moved $got bytes, expected $usize..$max"
for f in "py/blpkg/__init__.py" "py/blpkg/_blext$EXT"; do
    [[ $("$BITLIB" status "$m2" --lookup "$f" | jq -r .local) == false ]] || ml_fail "$f came along"
done

echo "== python3 imports a package with a C extension from the mount (node 3)"
m3=$ML/mnt3
v=$(cd / && timeout 60 env PYTHONPATH="$m3/py" "$PY" -c 'import blpkg; print(blpkg.VERSION, blpkg.mul(6, 7), blpkg._blext.__file__)')
echo "   $v"
[[ "$v" == "bitlib-test 42 $m3/py/blpkg/_blext$EXT" ]] || ml_fail "python import gave '$v'"

echo "== status counters make sense"
st=$(ml_status "$m3")
echo "   $(jq -c '{fuse, reads_waiting, num_peers}' <<<"$st")"
jq -e '.fuse.opens > 0 and .fuse.reads > 0 and .fuse.lookups > 0 and .reads_waiting == 0' <<<"$st" >/dev/null ||
    ml_fail "implausible counters"

echo "== SIGTERM unmounts"
for i in 1 2 3; do ml_umount "$ML/mnt$i"; done
echo "PASS"
