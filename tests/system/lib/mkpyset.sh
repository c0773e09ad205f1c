#!/usr/bin/env bash
# mkpyset.sh SETDIR [PYTHON]: the Python package of the --no-fuse import tests (mkpyext.sh's
# blpkg with an extension module, and more):
#   py/blpkg/__init__.py, _blext<EXT_SUFFIX>   (mkpyext.sh)
#   py/blpkg/pure.py + __pycache__/pure.<tag>.pyc   a pure module with its compiled form
#   py/blpkg/sub/__init__.py, sub/deep.py           a subpackage
#   py/blpkg/unused.py, py/blpkg/data.bin           never imported
# and writes the test program to SETDIR/../pyprog.py (outside the set).  Exits 77 without
# Python headers, like mkpyext.sh.
set -euo pipefail
set_dir=${1:?usage: mkpyset.sh SETDIR [PYTHON]}
py=${2:-/usr/bin/python3}
"$(dirname "$0")/mkpyext.sh" "$set_dir" "$py"
p=$set_dir/py/blpkg
mkdir -p "$p/sub"
printf 'def twice(x):\n    return 2 * x\n' >"$p/pure.py"
"$py" -c 'import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)' "$p/pure.py"
printf 'from . import deep\n' >"$p/sub/__init__.py"
printf 'def name():\n    return __name__\n' >"$p/sub/deep.py"
printf 'raise SystemExit("unused.py must never be imported")\n' >"$p/unused.py"
head -c 300000 /dev/urandom >"$p/data.bin"
cat >"$set_dir/../pyprog.py" <<'PY'
import json
import sys

import blpkg.pure
from blpkg.sub import deep

print("pure", blpkg.pure.twice(21), "deep", deep.name(), "ext", blpkg.mul(6, 7))
print("cached" if blpkg.pure.__cached__.endswith(".pyc") else "no pyc", json.dumps([1]))
for name in ("blpkg.nosuch", "nosuchtop"):
    try:
        __import__(name)
    except ModuleNotFoundError as e:
        print("missing", e.name)
PY
