#!/usr/bin/env bash
# t_cache_gc: bitlib cache ls and bitlib cache gc on a node whose caches outlive jobs.
#
# Node 0 seeds the set; node 1 runs jobs with bitlib run (its runtime directory via
# BITLIB_RUNTIME_DIR, its caches under RUNDIR/caches).
#   - a cache a live daemon holds is listed as in use (pid, mount) and never removed, even by
#     gc --older-than 0 --max-size 0; a stopped (SIGSTOPped) daemon's mount is not taken for
#     a dead one and gc does not hang on it;
#   - SIGKILL of a whole job (ranks and daemon) leaves a stale mount, socket and registry;
#     gc --dry-run names them and removes nothing; gc removes them all (no mount, daemon,
#     lock, socket or mount point left) and keeps the cache, which the next job uses warm;
#   - --older-than removes only caches unused for longer; --max-size removes the least
#     recently used first until the rest fit; a leftover of an interrupted gc is removed;
#     a symlink planted in a cache is removed, never followed;
#   - a cache named directly (a --cache DIR) works the same way;
#   - every mistake is one line and exit status 2.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETLAB_PREFIX=${NETLAB_PREFIX:-cg}
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
ml_require gcc
ml_init cache_gc
trap 'rc=$?; set +e; [[ -n "${STOPPED:-}" ]] && kill -CONT "$STOPPED"; rl_reap "${MP:-/nonexistent}"; (exit $rc); ml_cleanup' EXIT

"$HERE/lib/mklibset.sh" "$ML/set" >/dev/null
"$BITLIB" create -q -o "$ML/set.torrent" --prefetch-from "$ML/set/bin/app" "$ML/set"
netlab_up 2 200
ml_seed 0 "$ML/set.torrent" "$ML/set"
RUN=$ML/run1
export BITLIB_RUNTIME_DIR=$RUN
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
MP=$RUN/mnt-${ih:0:16}
C1=$RUN/caches/$ih
brun() { netlab_exec 1 "$BITLIB" run --no-tracker --peer "$(netlab_ip 0):6881" "$@"; }
gc() { "$BITLIB" cache gc "$@"; }
cache_bytes() { "$BITLIB" cache ls --json | jq -r --arg p "$1" '.[] | select(.path == $p) | .bytes'; }

echo "== mistakes: one line, exit 2"
mistake() {
    local want=$1; shift
    set +e; "$BITLIB" cache "$@" >"$ML/out" 2>"$ML/err"; local rc=$?; set -e
    ((rc == 2)) || ml_fail "bitlib cache $*: exit $rc, expected 2"
    (( $(wc -l <"$ML/err") == 1 )) && grep -q -- "$want" "$ML/err" ||
        ml_fail "bitlib cache $*: said '$(cat "$ML/err")', expected '$want'"
    echo "   bitlib cache $*: $(cat "$ML/err")"
}
mistake "not a cache command" rm
mistake "older-than '3x'" gc --older-than 3x
mistake "max-size size 'lots'" gc --max-size lots
mistake "belong to 'bitlib cache gc'" ls --max-size 1G
mistake "is not a directory" gc "$ML/nonexistent"
mistake "unknown option\|not an option\|--frobnicate" gc --frobnicate

echo "== a kept mount: its cache is in use and never removed"
brun --keep "$ML/set.torrent" -- true
d1=$(rl_daemons "$MP")
[[ -n "$d1" ]] || ml_fail "--keep left no daemon"
"$BITLIB" cache ls >"$ML/ls"
cat "$ML/ls"
grep -E "^in-use .* $C1 \(in use by pid $d1, mount $MP\)$" "$ML/ls" || ml_fail "ls did not show $C1 in use"
[[ $("$BITLIB" cache ls --json | jq -r --arg p "$C1" '.[] | select(.path == $p) | "\(.in_use) \(.pid)"') == "true $d1" ]] ||
    ml_fail "ls --json: $("$BITLIB" cache ls --json)"
gc --older-than 0 --max-size 0 >"$ML/gc"   # (its probes connect and close: the daemon must not mind)
cat "$ML/gc"
[[ -d $C1 ]] || { cat "$RUN"/*.log; ml_fail "gc removed the cache of a live mount"; }
grep -q "caches in use take" "$ML/gc" || ml_fail "gc did not say the in-use cache stays"
(( $(rl_mounts "$MP") == 1 )) || ml_fail "gc touched the live mount"
out=$(brun "$ML/set.torrent" -- sh -c '"$BITLIB_MOUNT/bin/app"')
[[ "$out" == "libset ok: alpha beta gamma delta" ]] || ml_fail "the mount after gc: '$out'"

echo "== a stopped daemon is not a dead one"
kill -STOP "$d1"; STOPPED=$d1
t0=$(date +%s%N)
gc >"$ML/gc"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$d1"; STOPPED=
! grep -q "stale mount" "$ML/gc" || ml_fail "gc took a stopped daemon's mount for stale: $(cat "$ML/gc")"
(( $(rl_mounts "$MP") == 1 )) || ml_fail "gc detached a stopped daemon's mount"
((ms < 20000)) || ml_fail "gc took $ms ms with a stopped daemon"
echo "   gc with the daemon stopped: $ms ms, mount kept"
kill -TERM "$d1"
for _ in $(seq 50); do (( $(rl_mounts "$MP") == 0 )) && break; sleep 0.1; done
sleep 0.3
rl_assert_clean "$RUN" "$MP"

echo "== SIGKILL of the whole job: gc clears the debris, keeps the cache"
rl_sigkill_job "$MP" brun "$ML/set.torrent"
(( $(rl_mounts "$MP") == 1 )) || ml_fail "no stale mount after SIGKILL (nothing to test)"
ls "$RUN"/*.sock "$RUN"/*.run >/dev/null || ml_fail "no socket or registry after SIGKILL"
echo "   debris: $(cd "$RUN" && ls | tr '\n' ' ')"
# gc leaves a socket younger than 5 s alone (a daemon may be binding it right now)
sleep 5.5
gc --dry-run >"$ML/gc"
cat "$ML/gc"
grep -q "^would remove stale mount $MP$" "$ML/gc" || ml_fail "dry run did not name the stale mount"
grep -q "^would remove dead socket $RUN/.*\.sock$" "$ML/gc" || ml_fail "dry run did not name the socket"
(( $(rl_mounts "$MP") == 1 )) && ls "$RUN"/*.sock >/dev/null || ml_fail "the dry run removed something"
gc >"$ML/gc"
cat "$ML/gc"
grep -q "^removed stale mount $MP$" "$ML/gc" || ml_fail "gc did not detach the stale mount"
grep -q "^removed stale registry $RUN/.*\.run$" "$ML/gc" || ml_fail "gc did not remove the registry"
rl_assert_clean "$RUN" "$MP"
[[ ! -e $MP ]] || ml_fail "gc left the unused mount point $MP"
[[ -d $C1 ]] || ml_fail "gc without --older-than/--max-size removed a cache"
grep -E "^free .* $C1$" <("$BITLIB" cache ls) || ml_fail "the cache is not listed free"
used=$(brun "$ML/set.torrent" -- sh -c '"$BITLIB_MOUNT/bin/app" >/dev/null; "$BITLIB" status "$BITLIB_MOUNT" --json' | jq -r .cache)
[[ $used == "$C1" ]] || ml_fail "the next job used cache $used, not the kept $C1"
sleep 0.5
rl_assert_clean "$RUN" "$MP"
echo "   the next job ran on the kept cache and left nothing"

echo "== --older-than and --max-size"
size=$(cache_bytes "$C1")
((size > 0)) || ml_fail "cache size $size"
cp -a "$C1" "$C1.2"
touch -d '3 days ago' "$C1.2/.bitlib-lock" "$C1.2"
gc --older-than 2d >"$ML/gc"
cat "$ML/gc"
[[ ! -e $C1.2 && -d $C1 ]] || ml_fail "--older-than 2d: wrong caches removed"
grep -q "^removed cache $C1.2 " "$ML/gc" || ml_fail "no line for the removed cache"
cp -a "$C1" "$C1.2"; cp -a "$C1" "$C1.3"
touch -d '2 hours ago' "$C1.2/.bitlib-lock" "$C1.2"
touch -d '1 hour ago' "$C1.3/.bitlib-lock" "$C1.3"
touch "$C1/.bitlib-lock"
gc --older-than 1d >"$ML/gc"
[[ -d $C1.2 && -d $C1.3 ]] || ml_fail "--older-than 1d removed a cache used an hour ago"
# room for two of the three: the least recently used goes
gc --max-size $((2 * size + size / 2)) >"$ML/gc"
cat "$ML/gc"
[[ ! -e $C1.2 && -d $C1.3 && -d $C1 ]] || ml_fail "--max-size removed the wrong caches: $(ls "$RUN/caches")"
gc --max-size 0 >"$ML/gc"
[[ ! -e $C1.3 && ! -e $C1 ]] || ml_fail "--max-size 0 left free caches"

echo "== leftovers of an interrupted gc; symlinks are never followed"
mkdir -p "$ML/outside" "$RUN/caches/.bitlib-gc-$ih.999/lib"
echo precious >"$ML/outside/file"
dd if=/dev/zero of="$RUN/caches/.bitlib-gc-$ih.999/lib/x" bs=64k count=1 status=none
"$BITLIB" cache ls | grep -q "^leftover .*\.bitlib-gc-$ih.999 " || ml_fail "ls did not show the leftover"
mkdir -p "$C1/lib"
touch "$C1/.bitlib-lock"
ln -s "$ML/outside" "$C1/lib/evil-dir"
ln -s "$ML/outside/file" "$C1/evil-file"
gc --max-size 0 >"$ML/gc"
cat "$ML/gc"
[[ ! -e "$RUN/caches/.bitlib-gc-$ih.999" && ! -e $C1 ]] || ml_fail "leftover or cache not removed"
[[ $(cat "$ML/outside/file") == precious ]] || ml_fail "gc followed a symlink out of the cache"

echo "== a cache named directly"
mkdir -p "$ML/mp2"
cl_track_mount "$ML/mp2"
netlab_exec 1 "$BITLIB" mount "$ML/set.torrent" "$ML/mp2" --no-tracker --peer "$(netlab_ip 0):6881" \
    --listen "$(netlab_ip 1):6890" --cache "$ML/mycache" --log "$ML/mount-mp2.log"
pid2=$("$BITLIB" status "$ML/mp2" --json | jq -r .pid)
gc --max-size 0 "$ML/mycache" >"$ML/gc"
[[ -d $ML/mycache ]] || ml_fail "gc DIR removed a cache in use"
"$BITLIB" cache ls "$ML/mycache" | grep -q "^in-use .* $ML/mycache (in use by pid $pid2" || ml_fail "ls DIR"
kill -TERM "$pid2"
for _ in $(seq 50); do ml_mounted "$ML/mp2" || break; sleep 0.1; done
for _ in $(seq 50); do kill -0 "$pid2" 2>/dev/null || break; sleep 0.1; done
gc --max-size 0 "$ML/mycache" >"$ML/gc"
cat "$ML/gc"
[[ ! -e $ML/mycache ]] || ml_fail "gc DIR --max-size 0 kept a free cache"
echo PASS
