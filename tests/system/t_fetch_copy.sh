#!/usr/bin/env bash
# t_fetch_copy: `bitlib fetch` makes a copy that runs, and lengths are part of the
# description (issue 10, defects 2 and 3).  Loopback only: one seeder, one fetch.
#
# The set: a program with RUNPATH $ORIGIN/../lib and its soname symlinks (mklibset.sh),
# plus an empty directory, a directory of mode 0750, a read-only file, an executable
# script, a relative and an absolute symlink, and old mtimes everywhere.
#   - the fetched copy has every entry with the source's type, permission bits and mtime
#     (seconds), every symlink with its target; bin/app runs from it
#   - a copy with 5 bytes appended to a file is fetched into again: the result is
#     "complete" and the file has its described length and bytes
#   - `bitlib seed` of a copy with bytes appended refuses (exit 1), naming the file
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/loopseed.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in gcc stat; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_fetch_copy.XXXXXX")
cl_track_dir "$W"
fail() { echo "FAIL: $*"; for f in "$W"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -8 "$f"; }; done; exit 1; }

echo "== the set"
S=$W/src
"$HERE/lib/mklibset.sh" "$S" >/dev/null
rm -rf "$S/src"
mkdir -p "$S/share/empty" "$S/private"
chmod 0750 "$S/private"
echo "data" >"$S/private/ro.txt"
chmod 0444 "$S/private/ro.txt"
printf '#!/bin/sh\necho script ok\n' >"$S/bin/run.sh"
chmod 0755 "$S/bin/run.sh"
ln -s ../lib/libalpha.so.1 "$S/bin/alpha-link"
ln -s /etc/hostname "$S/share/host"
find "$S" -depth -exec touch -h -d "2001-02-03 04:05:06" {} +
touch -h -d "1999-12-31 23:59:59" "$S/share/empty" "$S/bin/run.sh" "$S/bin/alpha-link"
"$BITLIB" create -q -o "$W/set.torrent" "$S"

echo "== seed on loopback"
loopseed "$W/set.torrent" "$S" "$W/seed.log" || fail "the seeder did not start"
port=$LOOPSEED_PORT

fetch() { # DIR: fetch the set into DIR from the seeder
    timeout 60 "$BITLIB" fetch "$W/set.torrent" "$1" --peer "127.0.0.1:$port" --no-tracker \
        --stall-timeout 30 2>"$W/fetch.log"
}

# "type mode mtime target" of every entry under DIR, relative paths
listing() { (cd "$1" && find . -mindepth 1 | sort | while read -r p; do
    stat -c "%n %F %a %Y" "$p" | tr '\n' ' '
    [[ -L $p ]] && readlink "$p" || echo
done) }

echo "== fetch: the copy has what the mount shows"
fetch "$W/copy" || fail "fetch failed"
listing "$S" >"$W/want"
listing "$W/copy" >"$W/got"
diff "$W/want" "$W/got" >"$W/diff" || { head -20 "$W/diff"; fail "the copy differs from the source (< source, > copy)"; }
[[ $(stat -c %Y "$W/copy") == $(stat -c %Y "$S") && $(stat -c %a "$W/copy") == $(stat -c %a "$S") ]] ||
    fail "the copy's root has another mode or mtime"
echo "   $(wc -l <"$W/want") entries: types, modes, mtimes and symlink targets agree"
out=$("$W/copy/bin/app") || fail "bin/app does not run from the copy"
[[ $out == "libset ok: alpha beta gamma delta" ]] || fail "bin/app says '$out'"
[[ $("$W/copy/bin/run.sh") == "script ok" ]] || fail "bin/run.sh does not run"
echo "   bin/app runs from the copy: $out"

echo "== a file with 5 bytes appended, fetched into again"
f=lib/libalpha.so.1.0.0
chmod u+w "$W/copy/$f"
printf 'extra' >>"$W/copy/$f"
fetch "$W/copy" || fail "fetch into the old copy failed"
grep -q "complete" "$W/fetch.log" || fail "fetch did not say complete"
cmp "$S/$f" "$W/copy/$f" || fail "$f: $(stat -c %s "$W/copy/$f") bytes, should be $(stat -c %s "$S/$f")"
grep "cut to length" "$W/fetch.log" | head -1
listing "$W/copy" >"$W/got"
diff -q "$W/want" "$W/got" >/dev/null || fail "the refetched copy differs from the source"
echo "   $f has its described length and bytes again"

echo "== seed refuses a copy with bytes appended"
cp -a "$S" "$W/bad"
chmod u+w "$W/bad/$f"
printf 'extra' >>"$W/bad/$f"
rc=0
timeout 30 "$BITLIB" seed "$W/set.torrent" "$W/bad" --listen 127.0.0.1:0 --no-tracker 2>"$W/bad.log" || rc=$?
echo "   exit $rc: $(grep -v "^20" "$W/bad.log" | head -1)"
((rc == 1)) || fail "seed of a wrong copy exited $rc"
grep -q "'$f' is .* bytes but the description says" "$W/bad.log" || fail "the refusal does not name the file and its length"
echo "PASS"
