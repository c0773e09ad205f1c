#!/usr/bin/env bash
# t_run_slurm: bitlib run and bitlib launch under a real Slurm (Debian's slurmctld, slurmd,
# munge; lib/slurmlab.sh runs a private one-node cluster in netlab node 0 with 4 CPUs).
#   - `srun -n 4 bitlib run DESC -- python3 app.py`: 4 ranks import an extension module from
#     the set; exactly one mount daemon on the node for the 4 ranks; nothing left after;
#   - a rank exiting 3 makes srun exit 3;
#   - an sbatch script whose one line is `bitlib launch --launcher srun ... SETDIR -- bin/app`
#     completes with ExitCode 0 and 4 ranks ran bin/app from the mount.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
. "$HERE/lib/slurmlab.sh"
PY=/usr/bin/python3
ml_require gcc srun sbatch slurmctld slurmd munged "$PY"
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' ||
    { echo "SKIP: no Python.h (python3-dev)"; exit 77; }
ml_init run_slurm
slurm_cleanup() {
    local rc=$? d
    set +e   # a failing step must not end the cleanup
    for d in "$ML"/run/mnt-*; do if [[ -e "$d" ]]; then rl_reap "$d"; fi; done
    slurmlab_down
    (exit $rc); ml_cleanup
}
trap slurm_cleanup EXIT
chmod 755 "$ML"

S=$ML/set
"$HERE/lib/mklibset.sh" "$S" >/dev/null
"$HERE/lib/mkpyext.sh" "$S" "$PY"
# app.py waits (at most 30 s) until all 4 tasks are in it before it exits: the tasks then
# overlap, and the one-daemon check below does not depend on srun starting them within the
# moment a finished daemon needs to leave (in a loaded full run a fourth task once started
# after the first three had ended, and rightly started a new daemon)
printf 'import os, time, blpkg\nopen(os.path.join("%s", "bar.%%s" %% os.environ["SLURM_PROCID"]), "w").close()\nt = time.time()\nwhile len([f for f in os.listdir("%s") if f.startswith("bar.")]) < 4 and time.time() - t < 30:\n    time.sleep(0.05)\nos.write(1, ("task %%s %%d %%s\\n" %% (os.environ["SLURM_PROCID"], blpkg.mul(6, 7), blpkg._blext.__file__)).encode())\n' "$ML/bar" "$ML/bar" >"$ML/app.py"
mkdir -p "$ML/bar"

netlab_up 2 200
if ! slurmlab_up 0 4 2>"$ML/slurmlab.err"; then
    cat "$ML/slurmlab.err"
    echo "SKIP: the private Slurm cluster did not come up: $(tail -1 "$ML/slurmlab.err")"
    exit 77
fi
echo "   slurm: $(slurmlab_exec sinfo -h -o '%P %D nodes %c CPUs %t')"
"$BITLIB" create -q -o "$ML/set.torrent" "$S"
ml_seed 1 "$ML/set.torrent" "$S"
export BITLIB_RUNTIME_DIR=$ML/run   # srun passes the environment to the tasks
ih=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .info_hash)
MP=$ML/run/mnt-${ih:0:16}
brun=("$BITLIB" run -v --no-tracker --peer "$(netlab_ip 1):6881")

echo "== srun -n 4 bitlib run DESC -- python3 app.py"
slurmlab_exec timeout 120 srun -n 4 "${brun[@]}" "$ML/set.torrent" -- "$PY" "$ML/app.py" \
    >"$ML/py.out" 2>"$ML/py.err" || { cat "$ML/py.err"; ml_fail "srun failed"; }
sort "$ML/py.out" | sed 's/^/   /'
(( $(grep -c "^task [0-3] 42 $MP/py/blpkg/_blext" "$ML/py.out") == 4 )) || ml_fail "not 4 tasks importing from the mount"
s=$(grep -c "started the mount daemon" "$ML/py.err" || true)
j=$(grep -c "joined the mount daemon" "$ML/py.err" || true)
p=$(grep -o "daemon (pid [0-9]*)" "$ML/py.err" | sort -u | wc -l)
echo "   started $s, joined $j, daemon pids $p"
((s == 1 && j == 3 && p == 1)) || { cat "$ML/py.err"; ml_fail "not exactly one daemon for the 4 tasks"; }
sleep 0.5
rl_assert_clean "$ML/run" "$MP"

echo "== a failing rank's status reaches srun"
set +e
slurmlab_exec timeout 60 srun -n 4 "${brun[@]}" "$ML/set.torrent" -- sh -c 'exit $((SLURM_PROCID == 2 ? 3 : 0))' 2>"$ML/fail.err"
rc=$?
set -e
((rc == 3)) || { cat "$ML/fail.err"; ml_fail "srun exited $rc, expected 3"; }
echo "   srun exited 3 ($(grep -m1 "task 2" "$ML/fail.err" || true))"
sleep 0.5
rl_assert_clean "$ML/run" "$MP"

echo "== sbatch: a job script using bitlib launch"
cat >"$ML/job.sh" <<JOB
#!/bin/sh
#SBATCH -n 4
#SBATCH -o $ML/job.out
exec "$BITLIB" launch --launcher srun --cache-dir "$ML/descs" "$S" -- "$S/bin/app"
JOB
id=$(slurmlab_exec sbatch --parsable "$ML/job.sh")
slurmlab_wait_job "$id" 120 || { cat "$ML/job.out"; ml_fail "job $id did not finish"; }
sed 's/^/   /' "$ML/job.out"
ec=$(slurmlab_exec scontrol show job "$id" | grep -o "ExitCode=[0-9:]*" | head -1)
[[ "$ec" == "ExitCode=0:0" ]] || ml_fail "job $id: $ec"
(( $(grep -c "^libset ok: alpha beta gamma delta" "$ML/job.out") == 4 )) || ml_fail "not 4 tasks ran bin/app"
grep -q "bitlib launch: tracker http://$(netlab_ip 0):" "$ML/job.out" || ml_fail "launch did not start its tracker"
echo "   job $id $ec, 4 tasks ran bin/app from the mount"
sleep 0.5
for d in "$ML"/run/mnt-*; do rl_assert_clean "$ML/run" "$d"; done
echo PASS
