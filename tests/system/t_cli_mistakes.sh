#!/usr/bin/env bash
# t_cli_mistakes: the mistakes a new user makes get one clear line and the right exit
# status (issue 10, defects 8, 10 and 11).  No network, no FUSE mount is made.
#
#   8   mount --log in a directory that does not exist: refused, exit 1, nothing mounted
#   10  create: --tracker notaurl / htp://... refused (exit 2); --prefetch-from a program
#       outside the set warns; libraries that resolve to this machine's copies while the
#       set has them warn and suggest --library-path; symlinks leading outside the set warn
#   11  help CMD, -V, version; tracker usage errors exit 2 with one "bitlib tracker:" line;
#       seed of a missing directory and fetch into a regular file say what the directory
#       is; inspect says "truncated" and "not a description file"; fetch --json
#       --on-complete keeps the command's output out of the JSON; mount without MOUNTPOINT
#       uses the description's; a big log is rotated when the daemon starts
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/loopseed.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
command -v gcc >/dev/null || { echo "SKIP: gcc missing"; exit 77; }
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_cli_mistakes.XXXXXX")
cl_track_dir "$W"
failures=0
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect RC NEEDLE CMD...: exit status RC, and stderr's one line holds NEEDLE
expect() {
    local want=$1 needle=$2 rc=0
    shift 2
    "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
    local lines
    lines=$(grep -cv '^$' "$W/err" || true)
    if ((rc != want)) || ! grep -qF -- "$needle" "$W/err" || ((lines != 1)); then
        bad "$*: exit $rc (want $want), stderr: $(head -c 600 "$W/err")"
    else
        echo "   ok (exit $rc): $(cat "$W/err")"
    fi
}
# warns NEEDLE CMD...: succeeds, and a warning line holds NEEDLE
warns() {
    local needle=$1 rc=0
    shift
    "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
    if ((rc != 0)) || ! grep -qF -- "$needle" "$W/err"; then
        bad "$*: exit $rc, no warning with '$needle': $(head -c 600 "$W/err")"
    else
        echo "   ok: $(grep -F -- "$needle" "$W/err" | head -1)"
    fi
}

echo "== the sets"
"$HERE/lib/mklibset.sh" "$W/set" >/dev/null
rm -rf "$W/set/src"
mkdir -p "$W/flat/bin" "$W/flat/lib"   # a program without RUNPATH, its library beside it
cat >"$W/l.c" <<'C'
int lv(void) { return 3; }
C
cat >"$W/p.c" <<'C'
int lv(void);
int main(void) { return lv() == 3 ? 0 : 1; }
C
gcc -shared -fPIC -o "$W/flat/lib/libflat.so" "$W/l.c"
gcc -o "$W/flat/bin/prog" "$W/p.c" -L"$W/flat/lib" -lflat
mkdir -p "$W/sys"                      # ... and a copy of it where this machine finds it
cp "$W/flat/lib/libflat.so" "$W/sys/"
"$BITLIB" create -q -o "$W/set.torrent" "$W/set"

echo "== 10: create accepts no mistakes silently"
expect 2 "'notaurl' is not a tracker URL" "$BITLIB" create -o "$W/x.torrent" --tracker notaurl "$W/set"
expect 2 "'htp://h:1/announce' is not a tracker URL" "$BITLIB" create -o "$W/x.torrent" --tracker htp://h:1/announce "$W/set"
expect 2 "udp:// needs a port" "$BITLIB" create -o "$W/x.torrent" --tracker udp://h "$W/set"
warns "is outside the set and loads nothing from it" \
    "$BITLIB" create -o "$W/x.torrent" --prefetch-from /bin/true "$W/set"
warns "resolves to $W/sys/libflat.so on this machine, not to the set's lib/libflat.so" \
    env LD_LIBRARY_PATH= "$BITLIB" create -o "$W/x.torrent" --prefetch-from "$W/flat/bin/prog" \
    --library-path "$W/sys" "$W/flat"
grep -q "give --library-path" "$W/err" || bad "no --library-path suggestion"
ln -s /etc/hostname "$W/flat/abs-link"
ln -s ../../outside "$W/flat/lib/rel-link"
warns "symlink abs-link -> /etc/hostname points outside the set" "$BITLIB" create -o "$W/x.torrent" "$W/flat"
grep -qF "symlink lib/rel-link -> ../../outside leads outside the set" "$W/err" || bad "no warning for lib/rel-link"
grep -q "^bitlib create: warning: " "$W/err" || bad "warnings do not read 'bitlib create: warning: ...'"

echo "== 8: a log nobody could write is refused"
mkdir -p "$W/mp"
cl_track_mount "$W/mp"
expect 1 "cannot write the log /nonexistent/dir/x.log: No such file or directory" \
    "$BITLIB" mount "$W/set.torrent" "$W/mp" --log /nonexistent/dir/x.log --cache "$W/c8" --peer 127.0.0.1:9
grep -q " $W/mp " /proc/mounts && bad "something got mounted"
[[ -e $W/c8 ]] && bad "a cache was made for a mount that was refused"

echo "== 11: the smaller ones"
# (sed, not head: head exits after one line and a usage text over one stdio buffer
# then dies of SIGPIPE, which pipefail counts)
"$BITLIB" help mount | sed -n 1p | grep -q "^usage: bitlib mount" || bad "bitlib help mount"
"$BITLIB" help create | sed -n 1p | grep -q "^usage: bitlib create" || bad "bitlib help create"
[[ $("$BITLIB" -V) == "bitlib "* && $("$BITLIB" version) == "bitlib "* ]] || bad "-V / version"
expect 2 "bitlib tracker: unknown or incomplete option '--bogus'" "$BITLIB" tracker --bogus
expect 2 "bitlib tracker: --listen bogus:" "$BITLIB" tracker --listen bogus
expect 2 "bitlib tracker probe: unknown or incomplete option '--bogus'" "$BITLIB" tracker probe --bogus
expect 1 "/nonexistent: cannot open the directory" "$BITLIB" seed "$W/set.torrent" /nonexistent
touch "$W/regular"
expect 1 "$W/regular is not a directory" "$BITLIB" fetch "$W/set.torrent" "$W/regular" --peer 127.0.0.1:9
grep -q "cache" "$W/err" && bad "fetch speaks of a cache"
head -c 100 "$W/set.torrent" >"$W/trunc.torrent"
expect 1 "truncated: the file ends at byte 100" "$BITLIB" inspect "$W/trunc.torrent"
echo "hello" >"$W/text.torrent"
expect 1 "not a description file" "$BITLIB" inspect "$W/text.torrent"

echo "   fetch --json --on-complete: the command's output stays out of the JSON"
loopseed "$W/set.torrent" "$W/set" "$W/seed.log" || bad "the seeder did not start"
port=$LOOPSEED_PORT
timeout 60 "$BITLIB" fetch "$W/set.torrent" "$W/copy" --peer "127.0.0.1:$port" --no-tracker --json -q \
    --on-complete 'echo HOOK-OUTPUT' >"$W/fetch.json" 2>"$W/fetch.err" || bad "fetch failed: $(cat "$W/fetch.err")"
jq -e .complete "$W/fetch.json" >/dev/null 2>&1 || bad "stdout is not the JSON alone: $(head -c 300 "$W/fetch.json")"
grep -q HOOK-OUTPUT "$W/fetch.err" || bad "the command's output went nowhere"

echo "   mount without MOUNTPOINT: the description's"
expect 2 "needs MOUNTPOINT: $W/set.torrent records none" "$BITLIB" mount "$W/set.torrent" --no-tracker
"$BITLIB" create -q -o "$W/m.torrent" --mount "$W/recorded-mp" "$W/set"
expect 1 "$W/recorded-mp does not exist" "$BITLIB" mount "$W/m.torrent" --no-tracker

echo "   a big log is rotated when the daemon opens it"
head -c $((9 << 20)) /dev/zero >"$W/big.log"
rc=0
"$BITLIB" mount "$W/set.torrent" "$W/nonexistent-mp" --log "$W/big.log" --no-tracker 2>/dev/null || rc=$?
# (refused before the log is opened: no rotation for a mistake) -- then one that gets there
"$BITLIB" mount "$W/set.torrent" "$W/mp" --log "$W/big.log" --cache /proc/nope --no-tracker 2>"$W/err" || true
[[ -f $W/big.log.1 && $(stat -c %s "$W/big.log.1") -ge $((9 << 20)) && $(stat -c %s "$W/big.log") -lt 4096 ]] ||
    bad "the 9 MiB log was not rotated: $(ls -l "$W"/big.log*)"

echo "== offload submit"
head -c 32 /dev/urandom | base64 >"$W/okey"; chmod 600 "$W/okey"
printf '#!/bin/sh\n#SBATCH -n 1\n#BITLIB Stageout out dest\n#BITLIB InterNode n1:27000:1G\nrun\n' >"$W/ok.sh"
printf '#!/bin/sh\n#SBATCH -n 1\n#BITLIB Stageout out dest\n#BITLIB Deadline tomorrow\n' >"$W/badwhen.sh"
printf '#!/bin/sh\n#BITLIB Stageout out dest\n#BITLIB InterNode n1:27000:1G\n' >"$W/nosched.sh"
printf '#!/bin/sh\n#SBATCH -n 1\n#BITLIB InterNode n1:27000:1G\n' >"$W/nostage.sh"
printf '#!/bin/sh\n#SBATCH -n 1\n#BITLIB Stageout a d1\n#BITLIB Stageout b d2\n#BITLIB InterNode n1:27000:1G\n' >"$W/twodest.sh"
expect 2 "needs one SCRIPT and --key-file" "$BITLIB" offload submit "$W/ok.sh"
expect 2 "badwhen.sh: line 4, column 18: time 'tomorrow'" "$BITLIB" offload submit "$W/badwhen.sh" --key-file "$W/okey"
expect 2 "no #SBATCH or #PBS lines: name the scheduler after --" "$BITLIB" offload submit "$W/nosched.sh" --key-file "$W/okey"
expect 2 "no #Stageout SOURCE DEST directive" "$BITLIB" offload submit "$W/nostage.sh" --key-file "$W/okey"
expect 2 "line 4: #Stageout destination 'd2' differs from line 3's 'd1'" "$BITLIB" offload submit "$W/twodest.sh" --key-file "$W/okey"
expect 2 "nothing after --" "$BITLIB" offload submit "$W/ok.sh" --key-file "$W/okey" --
expect 2 "not --depot" "$BITLIB" offload submit "$W/ok.sh" --key-file "$W/okey" --depot n2:1
expect 1 "$W/ok.sh.nope: No such file" "$BITLIB" offload submit "$W/ok.sh.nope" --key-file "$W/okey"
expect 1 "/nonexistent/sbatch: No such file or directory (the Slurm client)" "$BITLIB" offload submit "$W/ok.sh" --key-file "$W/okey" -- /nonexistent/sbatch

echo "== without FUSE (run --no-fuse, launch --no-fuse)"
expect 2 "bitlib launch: --no-fuse: block mode needs FUSE" "$BITLIB" launch --no-fuse --mode block "$W/set" -- true
expect 2 "bitlib run: --no-fuse: block mode needs FUSE" "$BITLIB" run --no-fuse --mode block "$W/set.torrent" -- true
expect 1 "BITLIB_PYTHON_HOOK=$W/nohook: no readable _bitlib_nofuse.py in it" \
    env BITLIB_PYTHON_HOOK="$W/nohook" "$BITLIB" run --no-fuse "$W/set.torrent" -- true
expect 1 "BITLIB_AUDIT_LIB=$W/noaudit.so: No such file" \
    env BITLIB_AUDIT_LIB="$W/noaudit.so" "$BITLIB" run --no-fuse "$W/set.torrent" -- true

echo "== offload plan --probe"
expect 2 "--probe needs --key-file" "$BITLIB" offload plan "$W/ok.sh" --size 1M --probe
expect 2 "--probe is an option of 'bitlib offload plan' only" "$BITLIB" offload status "$W/ok.sh" --probe
expect 2 "--json is an option of 'bitlib offload push' and 'pull' only" "$BITLIB" offload status "$W/ok.sh" --json
expect 2 "--stageout-arg is an option of 'bitlib offload submit' only" "$BITLIB" offload push "$W/ok.sh" --stageout-arg=-p
expect 2 "--stageout-arg needs a non-empty option" "$BITLIB" offload submit "$W/ok.sh" --key-file "$W/okey" --stageout-arg=
expect 1 "offload key $W/nokey: No such file or directory" "$BITLIB" offload plan "$W/ok.sh" --size 1M --probe --key-file "$W/nokey"

((failures == 0)) || { echo "$failures failures"; exit 1; }
echo "PASS"
