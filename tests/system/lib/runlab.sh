# runlab.sh: helpers for the bitlib run / launch system tests.  Source after netlab.sh and
# mountlab.sh.
#
#   rl_mounts MP            number of FUSE mounts at MP (/proc/mounts)
#   rl_daemons MP           PIDs of live `bitlib mount` processes for mount point MP
#   rl_assert_clean RUNDIR MP   no mount at MP, no daemon for it, no socket, lock or registry
#                           left in RUNDIR (the log may stay)
#   rl_sigkill_job MP RUNFN DESC   start 4 ranks 'RUNFN DESC -- sleep 60' (RUNFN: the test's
#                           bitlib run wrapper, each rank its child), wait until all sleep and
#                           a daemon serves MP, then SIGKILL ranks and daemon alike
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

rl_sigkill_job() {
    local mp=$1 runfn=$2 desc=$3 job=() p n victims
    for _ in 1 2 3 4; do "$runfn" "$desc" -- sleep 60 & job+=($!); done
    # each rank: the wrapper (our child) -> bitlib run, which becomes sleep
    for _ in $(seq 100); do
        n=0; for p in "${job[@]}"; do [[ $(ps -o comm= --ppid "$p") == sleep ]] && n=$((n + 1)); done
        ((n == 4)) && [[ -n "$(rl_daemons "$mp")" ]] && break; sleep 0.1
    done
    victims="$(rl_daemons "$mp") ${job[*]}"
    for p in "${job[@]}"; do victims+=" $(ps -o pid= --ppid "$p")"; done
    kill -KILL $victims 2>/dev/null || true
    wait "${job[@]}" 2>/dev/null || true
    sleep 0.3
}
