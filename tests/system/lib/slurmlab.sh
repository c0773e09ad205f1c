# slurmlab.sh: a private one-node Slurm cluster (munged, slurmctld, slurmd from Debian's
# packages) inside a netlab namespace node, for tests that submit real jobs.  Source after
# netlab.sh; needs root.
#
#   slurmlab_up I [CPUS]   start munged, slurmctld and slurmd in netlab node I (default
#                          CPUS 4: slurmd reports the configured count, SlurmdParameters=
#                          config_overrides), wait until the node is idle; exports SLURM_CONF
#                          (the private config) and SLURMLAB_DIR.  Returns 77-style failure
#                          text on stderr and status 1 if a daemon does not come up.
#   slurmlab_exec CMD...   run CMD (srun, sbatch, squeue, ...) in the node with SLURM_CONF
#   slurmlab_wait_job ID [SECS]   wait until job ID has left the queue (default 60 s)
#   slurmlab_down          stop the three daemons (by PID), remove the private directory;
#                          netlab_down would also end them (they run in the namespace).
# Everything is private: its own munge key and socket, ports from the shell PID, state,
# spool and logs under SLURMLAB_DIR; no systemd, no files outside it.  proctrack/linuxproc
# and task/none: nothing needs cgroups.
slurmlab_up() {
    local i=${1:?node} cpus=${2:-4} d ip host cport dport t
    for t in munged slurmctld slurmd srun sbatch squeue sinfo; do
        command -v "$t" >/dev/null || { echo "slurmlab: $t missing (scripts/deps)" >&2; return 1; }
    done
    d=$(mktemp -d "${TMPDIR:-/tmp}/slurmlab.XXXXXX")
    chmod 755 "$d"
    SLURMLAB_DIR=$d SLURMLAB_NODE=$i
    export SLURMLAB_DIR SLURMLAB_NODE
    ip=$(netlab_ip "$i")
    host=$(hostname -s)                # slurmctld insists on its own host name
    cport=$(( 20000 + $$ % 10000 * 2 )) dport=$(( cport + 1 ))
    mkdir -p "$d/state" "$d/spool" "$d/munge"
    chmod 700 "$d/munge"
    head -c 1024 /dev/urandom >"$d/munge/munge.key"
    chmod 400 "$d/munge/munge.key"
    cat >"$d/slurm.conf" <<CONF
ClusterName=slurmlab$$
SlurmctldHost=$host($ip)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
NodeName=slnode NodeHostname=slnode NodeAddr=$ip CPUs=$cpus State=UNKNOWN
PartitionName=lab Nodes=slnode Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$d/slurm.conf
    netlab_spawn "$i" "$d/munged.out" munged -F --force --socket="$d/munge/munge.socket" \
        --key-file="$d/munge/munge.key" --pid-file="$d/munge/munged.pid" \
        --log-file="$d/munge/munged.log" --seed-file="$d/munge/munged.seed" >/dev/null
    SLURMLAB_PIDS=("$NETLAB_LAST_PID")
    for _ in $(seq 50); do [[ -S "$d/munge/munge.socket" ]] && break; sleep 0.1; done
    [[ -S "$d/munge/munge.socket" ]] || { echo "slurmlab: munged did not start: $(tail -3 "$d/munged.out" "$d/munge/munged.log" 2>/dev/null)" >&2; return 1; }
    netlab_spawn "$i" "$d/slurmctld.out" env SLURM_CONF="$SLURM_CONF" slurmctld -D -i >/dev/null
    SLURMLAB_PIDS+=("$NETLAB_LAST_PID")
    netlab_wait_listen "$i" "$cport" 20 || { echo "slurmlab: slurmctld did not start: $(tail -5 "$d/slurmctld.out" "$d/slurmctld.log" 2>/dev/null)" >&2; return 1; }
    netlab_spawn "$i" "$d/slurmd.out" env SLURM_CONF="$SLURM_CONF" slurmd -D -N slnode >/dev/null
    SLURMLAB_PIDS+=("$NETLAB_LAST_PID")
    for _ in $(seq 100); do
        [[ "$(slurmlab_exec sinfo -h -o %t 2>/dev/null)" == idle ]] && return 0
        sleep 0.2
    done
    echo "slurmlab: the node did not become idle: $(slurmlab_exec sinfo -h -o '%t %E' 2>&1); $(tail -5 "$d/slurmd.out" "$d/slurmd.log" 2>/dev/null)" >&2
    return 1
}

slurmlab_exec() { netlab_exec "$SLURMLAB_NODE" env SLURM_CONF="$SLURM_CONF" "$@"; }

slurmlab_wait_job() {
    local id=$1 secs=${2:-60} t=0
    while ((t < secs * 10)); do
        [[ -z "$(slurmlab_exec squeue -h -j "$id" 2>/dev/null)" ]] && return 0
        sleep 0.1; t=$((t + 1))
    done
    echo "slurmlab: job $id still queued after ${secs}s" >&2
    return 1
}

slurmlab_down() {
    local p
    [[ -n "${SLURMLAB_DIR:-}" ]] || return 0
    set +e   # from an EXIT trap: a failing kill must not end the cleanup
    for p in "${SLURMLAB_PIDS[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${SLURMLAB_PIDS[@]:-}"; do [[ -n "$p" ]] && netlab_alive "$p" && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for p in "${SLURMLAB_PIDS[@]:-}"; do [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null; done
    rm -rf -- "$SLURMLAB_DIR"
    SLURMLAB_DIR=
    return 0
}
