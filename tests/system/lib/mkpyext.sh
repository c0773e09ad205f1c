#!/usr/bin/env bash
# mkpyext.sh SETDIR [PYTHON]: add a Python package with a compiled C extension to a set:
#   SETDIR/py/blpkg/__init__.py             from ._blext import mul
#   SETDIR/py/blpkg/_blext<EXT_SUFFIX>      mul(a, b) -> a * b
# Needs gcc and PYTHON's headers (python3-dev); exits 77 without them.
set -euo pipefail
set_dir=${1:?usage: mkpyext.sh SETDIR [PYTHON]}
py=${2:-/usr/bin/python3}
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
[[ -f "$inc/Python.h" ]] || { echo "SKIP: no Python.h for $py (install python3-dev)"; exit 77; }
mkdir -p "$set_dir/py/blpkg"
src=$(mktemp "${TMPDIR:-/tmp}/blext.XXXXXX.c")
cat >"$src" <<'C'
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
gcc -shared -fPIC -O1 -I"$inc" -o "$set_dir/py/blpkg/_blext$ext" "$src"
rm -f "$src"
printf 'from ._blext import mul\n' >"$set_dir/py/blpkg/__init__.py"
