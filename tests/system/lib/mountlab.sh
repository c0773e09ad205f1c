# mountlab.sh: helpers for the bitlib mount system tests (t_mount_*.sh).  Source it after
# netlab.sh; needs root, jq.
#
#   ml_init NAME              make $ML (work dir) and the cleanup (cleanup.sh: every process,
#                             mount and namespace, then $ML, however the test ends)
#   ml_seed I DESC DIR        start `bitlib seed` in node I on port 6881; sets ML_SEED_PID
#   ml_mount I DESC MP ARGS.. `bitlib mount` in node I (detaches once the mount works),
#                             with --cache $ML/cache-I unless ARGS give one; the mount point
#                             is tracked for cleanup before the mount starts
#   ml_status MP              the daemon's status JSON (bitlib status --json)
#   ml_num MP KEY             one number of it (jq path, e.g. .bytes_downloaded, .fuse.reads)
#   ml_umount MP              SIGTERM the daemon, wait until the mount is gone
BITLIB=${BITLIB:-build/bitlib}
BITLIB=$(realpath "$BITLIB")
ML_MOUNTS=()
ML_PIDS=()

ml_fail() { echo "FAIL: $*"; exit 1; }

ml_require() {
    if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root (namespaces, FUSE)"; exit 77; fi
    [[ -c /dev/fuse ]] || { echo "SKIP: no /dev/fuse"; exit 77; }
    local t
    for t in ip tc nsenter perl jq fusermount3 "$@"; do
        command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
    done
    [[ -x "$BITLIB" ]] || ml_fail "$BITLIB not built"
}

ml_init() {
    . "$(dirname "${BASH_SOURCE[0]}")/cleanup.sh"
    cl_init
    ML=$(mktemp -d "${TMPDIR:-/tmp}/t_$1.XXXXXX")
    ML=$(realpath "$ML")
    cl_track_dir "$ML"
    cl_on_exit _ml_report
}

# The end of a test's own EXIT trap, which replaces cleanup.sh's: the whole cleanup
# (processes, mounts, namespaces, directories) with the exit status $? had on entry.
# Without it a test that installs its own trap leaves its seeders and tracker running.
ml_cleanup() { _cl_exit; }

ml_mounted() { grep -q " $1 fuse" /proc/mounts; }

# Run by the cleanup (cleanup.sh) once every process and mount is gone: sanitizer reports
# in daemon logs fail the test; a failed test shows the tail of every log.
_ml_report() {
    local f
    if [[ -d "${ML:-}" ]] && grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$ML"/*.log >/dev/null 2>&1; then
        echo "FAIL: sanitizer report in a daemon log:"
        grep -hE -A25 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$ML"/*.log | head -60
        CL_RC=1
    fi
    if ((CL_RC != 0)) && [[ -d "${ML:-}" ]]; then
        for f in "$ML"/*.log; do [[ -f "$f" ]] && { echo "--- $f"; tail -15 "$f"; }; done
    fi
    return 0
}

ml_seed() {
    local i=$1 desc=$2 dir=$3
    netlab_spawn "$i" "$ML/seed-$i.log" "$BITLIB" seed "$desc" "$dir" --listen "$(netlab_ip "$i"):6881" \
        --no-tracker >/dev/null
    ML_SEED_PID=$NETLAB_LAST_PID
    netlab_wait_listen "$i" 6881 30
}

ml_mount() {
    local i=$1 desc=$2 mp=$3 pid
    shift 3
    mkdir -p "$mp" 2>/dev/null || true   # (a stale mount cannot even be stat'ed)
    local extra=()
    [[ " $* " == *" --cache "* ]] || extra+=(--cache "$ML/cache-$i")
    cl_track_mount "$mp"
    netlab_exec "$i" timeout 120 "$BITLIB" mount "$desc" "$mp" --listen "$(netlab_ip "$i"):6881" \
        --no-tracker --log "$ML/mount-$i.log" "${extra[@]}" "$@" || ml_fail "bitlib mount in node $i"
    ML_MOUNTS+=("$mp")
    pid=$("$BITLIB" status "$mp" --json | jq -r .pid) || ml_fail "no status from $mp"
    ML_PIDS+=("$pid")
}

ml_status() { "$BITLIB" status "$1" --json; }
ml_num() { ml_status "$1" | jq -r "$2"; }

ml_umount() {
    local mp=$1 i pid=
    for i in "${!ML_MOUNTS[@]}"; do [[ "${ML_MOUNTS[$i]}" == "$mp" ]] && pid=${ML_PIDS[$i]}; done
    [[ -n "$pid" ]] || ml_fail "ml_umount: $mp is not ours"
    kill -TERM "$pid"
    for _ in $(seq 100); do ml_mounted "$mp" || break; sleep 0.1; done
    ml_mounted "$mp" && ml_fail "$mp still mounted 10 s after SIGTERM"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && ml_fail "daemon $pid still alive after unmounting"
    return 0
}

# Wait (at most SECS) until jq expression EXPR on MP's status is true.
ml_wait() {
    local mp=$1 expr=$2 secs=${3:-30} t=0
    while ((t < secs * 10)); do
        [[ "$(ml_status "$mp" | jq -r "$expr")" == true ]] && return 0
        sleep 0.1
        t=$((t + 1))
    done
    ml_fail "timed out after ${secs}s waiting for $expr on $mp: $(ml_status "$mp")"
}
