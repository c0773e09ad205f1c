#!/usr/bin/env bash
# t_demo_interrupt: interrupting scripts/demo while its nodes start leaves nothing behind
# (issue 10, defect 5).
#
# A reduced demo (3 nodes, 20 filler libraries) runs with TMPDIR pointing into this test's
# directory, twice: interrupted the moment its nodes start, and once the first mount is up.
# It gets SIGINT, SIGINT again 0.2 s later and SIGTERM (cleanup must run once and completely however often signals come).  Then: it
# exited with 130 within 60 s; none of the processes it had (its process tree and every
# process in its namespaces, snapshotted just before the signal, compared by start time)
# is alive; none of its namespaces exists; nothing is mounted below TMPDIR; TMPDIR is empty.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib/cleanup.sh"
BITLIB=$(realpath "${BITLIB:-$ROOT/build/bitlib}")
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (namespaces, FUSE)"; exit 77; }
[[ -c /dev/fuse ]] || { echo "SKIP: no /dev/fuse"; exit 77; }
for t in ip tc nsenter perl jq fusermount3 gcc setsid; do
    command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
cl_init
T=$(mktemp -d /tmp/t_demo_interrupt.XXXXXX)
cl_track_dir "$T"
fail() { echo "FAIL: $*"; echo "--- demo output"; tail -30 "$T/demo.log"; exit 1; }

starttime() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo "${20}"; }
tree() { local k; echo "$1"; for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$k"; done; }

# interrupt_demo WHEN: run the demo and interrupt it when WHEN ("start": the moment the
# nodes start; "mount": once the first mount is there), then check what is left
interrupt_demo() {
    local when=$1 demo prefix snapshot=() p s mounts rc=0 e left=() ns m d
    rm -rf "$T/tmp" && mkdir "$T/tmp"
    echo "== scripts/demo 3 (reduced set), interrupted at $when, TMPDIR=$T/tmp"
    # its own session, and SIGINT/SIGQUIT back to their defaults (a background job starts
    # with them ignored, and a shell cannot trap a signal ignored at its start)
    TMPDIR=$T/tmp BITLIB=$BITLIB DEMO_FILLER_FILES=20 DEMO_FILLER_MIB=4 \
        setsid perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die' \
        "$ROOT/scripts/demo" 3 >"$T/demo.log" 2>&1 </dev/null &
    demo=$!
    cl_track_pid "$demo"
    for _ in $(seq 6000); do
        grep -q "^== nodes 1\.\." "$T/demo.log" && break
        kill -0 "$demo" 2>/dev/null || fail "the demo ended before its nodes started"
        sleep 0.02
    done
    grep -q "^== nodes 1\.\." "$T/demo.log" || fail "the demo's nodes did not start within 120 s"
    if [[ $when == mount ]]; then
        for _ in $(seq 200); do grep -q " $T/tmp/" /proc/mounts && break; sleep 0.01; done
    fi
    prefix=nl$demo
    for p in $(tree "$demo") $(for f in /run/netns/"$prefix"-*; do [[ -e $f ]] && ip netns pids "${f##*/}"; done); do
        s=$(starttime "$p") && snapshot+=("$p $s")
    done
    mounts=$(grep -c " $T/tmp/" /proc/mounts || true)
    echo "   interrupting: ${#snapshot[@]} processes, $mounts mounts, $(ls /run/netns | grep -c "^$prefix-" || true) namespaces"
    ((${#snapshot[@]} >= 4)) || fail "too few processes to make the test meaningful"
    kill -INT "$demo"
    sleep 0.2
    kill -INT "$demo" 2>/dev/null || true
    sleep 0.1
    kill -TERM "$demo" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$demo" 2>/dev/null && fail "the demo still runs 60 s after SIGINT"
    wait "$demo" || rc=$?
    echo "   the demo exited with $rc"
    ((rc == 130)) || fail "exit status $rc, expected 130 (SIGINT)"
    # the node jobs ignored SIGINT: give a straggler the time to do damage, then look
    sleep 2
    for e in "${snapshot[@]}"; do
        [[ "$(starttime "${e%% *}" 2>/dev/null)" == "${e#* }" ]] && left+=("${e%% *} ($(cat "/proc/${e%% *}/comm" 2>/dev/null))")
    done
    ((${#left[@]} == 0)) || fail "processes left: ${left[*]}"
    ns=$(ls /run/netns 2>/dev/null | grep "^$prefix-" || true)
    [[ -z "$ns" ]] || fail "namespaces left: $ns"
    m=$(grep " $T/tmp/" /proc/mounts || true)
    [[ -z "$m" ]] || fail "mounts left: $m"
    d=$(ls -A "$T/tmp")
    [[ -z "$d" ]] || fail "temporary files left in TMPDIR: $d"
    grep -q "cannot unmount\|not removing" "$T/demo.log" && fail "the cleanup reported a problem"
    echo "   nothing left: processes, namespaces, mounts, temporary directories"
}

interrupt_demo start
interrupt_demo mount
echo "PASS"
