#!/usr/bin/env bash
# t_prefetch_ldd: `bitlib create --prefetch-from EXE` lists exactly the files
# of the set that the dynamic loader loads for EXE, as ldd reports them.
#
# Builds the set with tests/system/lib/mklibset.sh (RUNPATH, inherited RPATH,
# a symlink chain, a library nothing needs), then compares the description's
# prefetch list with `ldd DIR/bin/app` restricted to DIR: each path as ldd
# found it (lexically normalised) and the file it resolves to, plus bin/app.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BITLIB=${BITLIB:-build/bitlib}

for tool in gcc ldd jq realpath; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x "$BITLIB" ] || { echo "FAIL: $BITLIB not built"; exit 1; }

. "$here/lib/cleanup.sh"
cl_init
work=$(mktemp -d /tmp/t_prefetch_ldd.XXXXXX)
cl_track_dir "$work"
work=$(realpath "$work")
dir=$work/set

echo "== building the library set"
"$here/lib/mklibset.sh" "$dir"
out=$(timeout 10 env -u LD_LIBRARY_PATH "$dir/bin/app")
echo "   app says: $out"
[ "$out" = "libset ok: alpha beta gamma delta" ] || { echo "FAIL: the test program did not load its libraries"; exit 1; }

echo "== expected: ldd's view of bin/app inside the set"
{
    echo bin/app
    timeout 10 env -u LD_LIBRARY_PATH ldd "$dir/bin/app" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
    while read -r p; do
        for q in "$(realpath -s -m "$p")" "$(realpath "$p")"; do
            case $q in "$dir"/*) echo "${q#"$dir"/}" ;; esac
        done
    done
} | sort -u >"$work/want"
sed 's/^/   /' "$work/want"
grep -qx lib/sub/libdelta.so "$work/want" || { echo "FAIL: ldd did not see the inherited-RPATH library"; exit 1; }

echo "== bitlib create --prefetch-from"
if ! timeout 60 "$BITLIB" create -o "$work/x.torrent" --prefetch-from "$dir/bin/app" "$dir" 2>"$work/create.err"; then
    cat "$work/create.err"
    echo "FAIL: bitlib create failed"
    exit 1
fi
timeout 30 "$BITLIB" inspect --json "$work/x.torrent" | jq -r '.prefetch[]' >"$work/got.order"
sort -u "$work/got.order" >"$work/got"
sed 's/^/   /' "$work/got.order"

echo "== comparing"
if ! diff -u "$work/want" "$work/got"; then
    echo "FAIL: prefetch list differs from ldd"
    exit 1
fi
if grep -q unused "$work/got"; then
    echo "FAIL: a library nothing needs was listed"
    exit 1
fi
[ "$(head -n1 "$work/got.order")" = bin/app ] || { echo "FAIL: the executable is not first"; exit 1; }
echo "PASS: prefetch list matches ldd ($(wc -l <"$work/got") paths)"
