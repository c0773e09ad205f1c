# cleanup.sh: one cleanup for a test, benchmark or the demo, that runs once and completely
# whatever ends the script: success, failure, `set -e`, or any number of signals (SIGINT,
# SIGTERM, SIGHUP, SIGQUIT), however often they arrive.  Source it; every function is safe
# under `set -euo pipefail`.
#
#   cl_init                make $CL_DIR (tracking state), install the traps
#   cl_track_pid PID       at cleanup, stop PID and every descendant it has then (SIGTERM,
#                          SIGKILL after CL_KILL_WAIT s, default 3), checked against PID's
#                          start time so a recycled PID is never hit
#   cl_track_mount MP      at cleanup, unmount MP: its daemon (the PID its status reports)
#                          gets SIGTERM, then fusermount3 -u, then umount -l.  Call it
#                          *before* starting the mount, so an interrupt in the middle of
#                          mounting is covered
#   cl_track_dir DIR       at cleanup, rm -rf DIR (last, after everything else)
#   cl_on_exit FUNC        run FUNC during cleanup, once processes and mounts are gone and
#                          before the directories are removed (reports, log checks).  $CL_RC
#                          holds the exit status so far; FUNC may change it
# The order: tracked process trees; tracked mounts; netlab_down (when netlab.sh is
# sourced); tracked mounts again (a daemon killed there leaves a stale mount); FUNCs;
# directories.  The state lives in files under $CL_DIR, so background jobs (subshells)
# track too.  Signals are ignored from the moment cleanup starts, in it and in the
# commands it runs; the script then exits 128+signal (or its own status).

_cl_log() { echo "cleanup: $*" >&2; }

cl_init() {
    [[ -z "${CL_DIR:-}" || "${CL_OWNER:-}" != "$BASHPID" ]] || return 0
    CL_OWNER=$BASHPID
    CL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cleanup.XXXXXX")
    : >"$CL_DIR/pids"
    : >"$CL_DIR/mounts"
    : >"$CL_DIR/dirs"
    CL_HOOKS=()
    CL_RC=
    _CL_STARTED=
    trap _cl_exit EXIT
    trap '_cl_signal 129' HUP
    trap '_cl_signal 130' INT
    trap '_cl_signal 131' QUIT
    trap '_cl_signal 143' TERM
}

_cl_starttime() {   # PID: its start time (clock ticks since boot), or fail if it is gone
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    set -- $s
    echo "${20}"
}

cl_track_pid() {
    local start
    start=$(_cl_starttime "$1") || return 0   # already gone
    echo "$1 $start" >>"$CL_DIR/pids"
}
cl_track_mount() { echo "$1" >>"$CL_DIR/mounts"; }
cl_track_dir() { echo "$1" >>"$CL_DIR/dirs"; }
cl_on_exit() { CL_HOOKS+=("$1"); }

_cl_signal() {
    trap '' HUP INT QUIT TERM
    CL_RC=$1
    exit "$1"
}

# PID and its descendants, parents first.
_cl_tree() {
    local kid
    echo "$1"
    for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do _cl_tree "$kid"; done
}

_cl_stop_pids() {
    local pid start procs=() p deadline
    while read -r pid start; do
        [[ "$(_cl_starttime "$pid" 2>/dev/null)" == "$start" ]] || continue
        for p in $(_cl_tree "$pid"); do
            start=$(_cl_starttime "$p") && procs+=("$p $start")
        done
    done <"$CL_DIR/pids"
    ((${#procs[@]})) || return 0
    _cl_signal_procs TERM "${procs[@]}"
    deadline=$(( SECONDS + ${CL_KILL_WAIT:-3} ))
    while _cl_any_alive "${procs[@]}" && (( SECONDS <= deadline )); do sleep 0.1; done
    _cl_signal_procs KILL "${procs[@]}"
    for p in "${procs[@]}"; do wait "${p%% *}" 2>/dev/null || true; done
}

_cl_signal_procs() {
    local sig=$1 e
    shift
    for e in "$@"; do
        [[ "$(_cl_starttime "${e%% *}")" == "${e#* }" ]] && kill "-$sig" "${e%% *}" 2>/dev/null
    done
    return 0
}

_cl_any_alive() {
    local e s
    for e in "$@"; do
        s=$(cat "/proc/${e%% *}/stat" 2>/dev/null) || continue
        [[ "$(_cl_starttime "${e%% *}")" == "${e#* }" ]] || continue
        s=${s##*) }
        [[ "${s:0:1}" == Z ]] || return 0
    done
    return 1
}

_cl_mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }

_cl_stop_mounts() {   # [lazy]: detach what is still busy
    local mp pid lazy=${1:-}
    while read -r mp; do
        [[ -n "$mp" ]] || continue
        if [[ -n "${BITLIB:-}" && -x "${BITLIB:-}" ]]; then
            pid=$("$BITLIB" status "$mp" --json --timeout 2 2>/dev/null | jq -r '.pid // empty' 2>/dev/null) || pid=
            if [[ "$pid" =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null; then
                for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        _cl_mounted "$mp" || continue
        fusermount3 -u "$mp" 2>/dev/null || umount "$mp" 2>/dev/null || [[ -z "$lazy" ]] ||
            umount -l "$mp" 2>/dev/null || _cl_log "cannot unmount $mp"
    done <"$CL_DIR/mounts"
}

_cl_exit() {
    local rc=$? d h
    trap '' HUP INT QUIT TERM
    [[ "$BASHPID" == "${CL_OWNER:-}" && -z "${_CL_STARTED:-}" ]] || return 0
    _CL_STARTED=1
    set +e +u
    [[ -n "$CL_RC" ]] || CL_RC=$rc
    _cl_stop_pids
    _cl_stop_mounts
    if declare -F netlab_down >/dev/null; then netlab_down; fi
    _cl_stop_mounts lazy
    for h in "${CL_HOOKS[@]}"; do "$h"; done
    while read -r d; do
        [[ -n "$d" && -e "$d" ]] || continue
        if grep -qF -e " $d/" -e " $d " /proc/mounts 2>/dev/null; then
            _cl_log "something is still mounted under $d; not removing it"
        else
            rm -rf -- "$d"
        fi
    done < <(tac "$CL_DIR/dirs")
    rm -rf -- "$CL_DIR"
    exit "$CL_RC"
}
