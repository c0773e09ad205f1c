# runlab.sh: helpers for the bitlib run / launch system tests.  Source after netlab.sh and
# mountlab.sh.
#
#   rl_mounts MP            number of FUSE mounts at MP (/proc/mounts)
#   rl_daemons MP           PIDs of live `bitlib mount` processes for mount point MP
#   rl_assert_clean RUNDIR MP   no mount at MP, no daemon for it, no socket, lock or registry
#                           left in RUNDIR (the log may stay)
#   rl_reap MP              SIGTERM then SIGKILL every daemon of MP (cleanup), detach MP;
#                           turns set -e off (it is for EXIT traps: capture $? first)
rl_mounts() { awk -v mp="$1" '$2 == mp && $3 ~ /^fuse/' /proc/mounts | wc -l; }

rl_daemons() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        [[ "$cmd" == *" mount "*" $1 "* ]] || continue
        [[ -r "$p/stat" ]] && netlab_alive "${p#/proc/}" && echo "${p#/proc/}"
    done
}

rl_assert_clean() {
    local rundir=$1 mp=$2 left
    (( $(rl_mounts "$mp") == 0 )) || ml_fail "$mp is still mounted"
    [[ -z "$(rl_daemons "$mp")" ]] || ml_fail "a daemon of $mp still runs: $(rl_daemons "$mp")"
    left=$(cd "$rundir" && ls -d -- *.sock *.run 2>/dev/null || true)
    [[ -z "$left" ]] || ml_fail "left in $rundir: $left"
}

rl_reap() {
    local mp=$1 pid
    set +e   # from an EXIT trap: a failing kill must not end the cleanup
    for pid in $(rl_daemons "$mp"); do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.5
    for pid in $(rl_daemons "$mp"); do kill -KILL "$pid" 2>/dev/null; done
    if (( $(rl_mounts "$mp") > 0 )); then umount -l "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null; fi
    return 0
}
