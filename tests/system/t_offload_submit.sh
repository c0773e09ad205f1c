#!/usr/bin/env bash
# t_offload_submit: `bitlib offload submit` under a real Slurm (lib/slurmlab.sh: munged,
# slurmctld and slurmd in netlab node 0) with five `bitlib depot`s in nodes 1..5 (issue 12).
#   - a job script with #SBATCH lines, #BITLIB directives and the paper's bare forms is
#     submitted: Slurm gets the script less its directives, byte for byte (the job copies
#     its own script), and a stage-out job that waits on it (Dependency=afterany:JOBID,
#     pending while the job runs; --stageout-arg=--comment=... reaches the stage-out job
#     only); when the job has written its results and ended, the
#     stage-out pushes them to the depots (its log has push's summary and the pull command),
#     and `bitlib offload pull` brings them back identical
#   - a bad directive: exit 2, one line naming the script, line and column; nothing submitted
#   - sbatch missing from PATH: exit 1, one line; a scheduler that is not sbatch or qsub after
#     --: exit 2, one line
#   - PBS (not installable here: a fake qsub records its arguments): the job goes first, the
#     stage-out second with -W depend=afterany:ID and its --stageout-arg -q io; the recorded stage-out script, run as PBS
#     would, pushes the results and they pull back identical; when the stage-out cannot be
#     submitted, the job is cancelled with qdel and that is said
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
. "$HERE/lib/netlab.sh"
. "$HERE/lib/slurmlab.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in cmp sbatch slurmctld slurmd munged; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
(( EUID == 0 )) || { echo "SKIP: needs root (network namespaces)"; exit 77; }
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_offload_submit.XXXXXX")
chmod 755 "$W"
cl_track_dir "$W"
cl_on_exit slurmlab_down
export NETLAB_PREFIX=su$$ NETLAB_NET=10.81.$(( $$ % 200 + 20 ))
fail() {
    echo "FAIL: $*"
    for f in "$W"/*.log "$W"/*.err "$W"/out/*.log "${SLURMLAB_DIR:-/nonexistent}"/slurmd.log; do
        [[ -s $f ]] && { echo "--- $f"; tail -8 "$f"; }
    done
    exit 1
}
PORT=27300

echo "== cluster: Slurm in node 0, depots in nodes 1..5"
head -c 32 /dev/urandom | base64 >"$W/key"
chmod 600 "$W/key"
netlab_up 6
for i in 1 2 3 4 5; do
    netlab_spawn "$i" "$W/depot$i.log" "$BITLIB" depot --store "$W/store$i" --capacity 64M \
        --listen "$(netlab_ip "$i"):$PORT" --key-file "$W/key" >/dev/null
done
for i in 1 2 3 4 5; do netlab_wait_listen "$i" "$PORT" 20 || fail "depot $i did not start"; done
if ! slurmlab_up 0 2 2>"$W/slurmlab.err"; then
    cat "$W/slurmlab.err"
    echo "SKIP: the private Slurm cluster did not come up: $(tail -1 "$W/slurmlab.err")"
    exit 77
fi
echo "   slurm: $(slurmlab_exec sinfo -h -o '%P %D nodes %c CPUs %t')"
njobs() { slurmlab_exec scontrol -o show jobs 2>/dev/null | grep -c '^JobId=' || true; }
field() { slurmlab_exec scontrol -o show job "$1" | grep -o "$2=[^ ]*" | head -1; }

mkdir -p "$W/out"
cat >"$W/job.sh" <<JOB
#!/bin/sh
#SBATCH -J resultjob
#SBATCH -o $W/job.out
#BITLIB Stageout results /home/user/results
#BITLIB InterNode $(netlab_ip 1):$PORT:64M
#BITLIB InterNode $(netlab_ip 2):$PORT:64M
#InterNode $(netlab_ip 3):$PORT:64M
#InterNode $(netlab_ip 4):$PORT:64M
#BITLIB Landmark $(netlab_ip 5):$PORT
#BITLIB Deadline +900
# a comment that mentions #Stageout is the job's and stays
cat "\$0" >"$W/seen.sh"    # what Slurm was given
mkdir -p results
sleep 3
head -c 3000000 /dev/urandom >results/data.bin
echo "result of job \$SLURM_JOB_ID" >results/summary.txt
JOB
grep -v -e '^#BITLIB ' -e '^#InterNode ' "$W/job.sh" >"$W/expected.sh"

echo "== submit: the job, then its stage-out after it (afterany)"
(cd "$W" && slurmlab_exec "$BITLIB" offload submit job.sh --key-file key --chunk 256K \
    --manifest "$W/out/run-%j.manifest" --stageout-arg=--comment=bitlib-stage-out) >"$W/submit.out" 2>"$W/submit.err" ||
    fail "submit exited $?: $(cat "$W/submit.err")"
out=$(cat "$W/submit.out")
echo "   $out"
[[ $out =~ ^submitted\ job\ ([0-9]+)\ \(Slurm\)\ without\ its\ 7\ offload\ directives\;\ stage-out\ job\ ([0-9]+)\ runs ]] ||
    fail "submit said: $out"
JOBID=${BASH_REMATCH[1]} STAGEID=${BASH_REMATCH[2]}
MF=$W/out/run-$JOBID.manifest
[[ $out == *"manifest $MF, log $W/out/run-$JOBID.log; then: bitlib offload pull $MF --out /home/user/results" ]] ||
    fail "submit does not name the manifest and the pull: $out"
dep=$(field "$STAGEID" Dependency)
[[ $dep == "Dependency=afterany:$JOBID"* ]] || fail "stage-out job $STAGEID: $dep"
st=$(field "$STAGEID" JobState)
[[ $st == JobState=PENDING ]] || fail "stage-out job $STAGEID is $st while job $JOBID runs"
cm=$(field "$STAGEID" Comment || true) cmjob=$(field "$JOBID" Comment || true)
[[ $cm == Comment=bitlib-stage-out && $cmjob != Comment=bitlib-stage-out ]] ||
    fail "--stageout-arg: stage-out job $cm, main job $cmjob"
echo "   stage-out job $STAGEID: $dep, $st, $(field "$STAGEID" JobName), $cm (--stageout-arg; the main job has none)"
slurmlab_wait_job "$JOBID" 60 || fail "job $JOBID did not end"
slurmlab_wait_job "$STAGEID" 90 || fail "stage-out job $STAGEID did not end"
ec=$(field "$STAGEID" ExitCode)
[[ $ec == ExitCode=0:0 ]] || fail "stage-out job $STAGEID: $ec: $(cat "$W/out/run-$JOBID.log")"
cmp "$W/expected.sh" "$W/seen.sh" || fail "Slurm was not given the script less its directives"
echo "   Slurm got the script less its 7 directive lines, byte for byte ($(wc -l <"$W/seen.sh") lines)"
grep -q "^offload: 3000" "$W/out/run-$JOBID.log" || fail "the stage-out log has no push summary"
grep -q "to fetch them: bitlib offload pull $MF --out /home/user/results" "$W/out/run-$JOBID.log" ||
    fail "the stage-out log has no pull command"
echo "   $(grep "^offload:" "$W/out/run-$JOBID.log" | cut -c1-150)..."
[[ -s $W/out/run-$JOBID.stageout.sh ]] || fail "the stage-out script was not kept beside the manifest"
mkdir "$W/pulled"
netlab_exec 0 "$BITLIB" offload pull "$MF" --out "$W/pulled" >"$W/pull.out" 2>"$W/pull.err" ||
    fail "pull: $(tail -1 "$W/pull.err")"
for f in data.bin summary.txt; do cmp "$W/results/$f" "$W/pulled/$f" || fail "$f differs"; done
grep -q "^result of job $JOBID$" "$W/pulled/summary.txt" || fail "summary.txt: $(cat "$W/pulled/summary.txt")"
echo "   $(tail -1 "$W/pull.out")"

echo "== a bad directive: line and column, nothing submitted"
before=$(njobs)
sed "s/^#InterNode $(netlab_ip 3):$PORT:64M$/#InterNode $(netlab_ip 3):$PORT/" "$W/job.sh" >"$W/bad.sh"
rc=0
(cd "$W" && slurmlab_exec "$BITLIB" offload submit bad.sh --key-file key) >"$W/bad.out" 2>"$W/bad.err" || rc=$?
(( rc == 2 )) || fail "bad directive: exit $rc"
(( $(wc -l <"$W/bad.err") == 1 )) || fail "bad directive: not one line: $(cat "$W/bad.err")"
grep -q "^bitlib offload submit: bad.sh: line 7, column 12: .*InterNode needs HOST:PORT:SIZE" "$W/bad.err" ||
    fail "bad directive: $(cat "$W/bad.err")"
(( $(njobs) == before )) || fail "a job was submitted for a bad script"
echo "   $(cat "$W/bad.err")"

echo "== no scheduler here: one line"
mkdir "$W/nobin"
rc=0
(cd "$W" && env PATH="$W/nobin" "$BITLIB" offload submit job.sh --key-file key) >"$W/nos.out" 2>"$W/nos.err" || rc=$?
(( rc == 1 )) && (( $(wc -l <"$W/nos.err") == 1 )) || fail "no sbatch: exit $rc: $(cat "$W/nos.err")"
grep -q "sbatch not found on PATH" "$W/nos.err" || fail "no sbatch: $(cat "$W/nos.err")"
echo "   $(cat "$W/nos.err")"
rc=0
(cd "$W" && "$BITLIB" offload submit job.sh --key-file key -- srun -n 2) >"$W/srun.out" 2>"$W/srun.err" || rc=$?
(( rc == 2 )) && (( $(wc -l <"$W/srun.err") == 1 )) || fail "-- srun: exit $rc: $(cat "$W/srun.err")"
echo "   $(cat "$W/srun.err")"

echo "== PBS (a fake qsub records its arguments): the job, then -W depend=afterany:ID"
mkdir -p "$W/pbsbin" "$W/pbs"
cat >"$W/pbsbin/qsub" <<'QSUB'
#!/bin/sh
# records each call (arguments one a line, and the script given last), prints a PBS job id
d=$PBSFAKE; n=$(cat "$d/n" 2>/dev/null || echo 0); echo $((n + 1)) >"$d/n"
printf '%s\n' "$@" >"$d/call$n.args"
for last; do :; done
cp "$last" "$d/call$n.script"
[ -n "${QSUB_FAIL_CALL:-}" ] && [ "$QSUB_FAIL_CALL" = "$n" ] && { echo "qsub: Unknown queue" >&2; exit 3; }
echo "$((1700 + n)).pbs-server"
QSUB
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"$PBSFAKE/qdel.args"\n' >"$W/pbsbin/qdel"
chmod +x "$W/pbsbin/qsub" "$W/pbsbin/qdel"
cat >"$W/job.pbs" <<JOB
#!/bin/sh
#PBS -N pbsjob
#PBS -l nodes=1
cd "\$PBS_O_WORKDIR"
#BITLIB Stageout pbsresults/final.dat sitedir
#BITLIB InterNode $(netlab_ip 1):$PORT:64M
#BITLIB InterNode $(netlab_ip 2):$PORT:64M
#BITLIB InterNode $(netlab_ip 3):$PORT:64M
#BITLIB InterNode $(netlab_ip 4):$PORT:64M
#BITLIB InterNode $(netlab_ip 5):$PORT:64M
#BITLIB Deadline +900
./compute >pbsresults/final.dat
JOB
(cd "$W" && PBSFAKE=$W/pbs PATH="$W/pbsbin:$PATH" "$BITLIB" offload submit job.pbs --key-file key --chunk 128K \
    --stageout-arg=-q --stageout-arg=io -- qsub -q batch) >"$W/pbs.out" 2>"$W/pbs.err" || fail "PBS submit: $(cat "$W/pbs.err")"
echo "   $(cat "$W/pbs.out")"
[[ $(cat "$W/pbs/n") == 2 ]] || fail "qsub was called $(cat "$W/pbs/n") times, not 2"
mapfile -t a0 <"$W/pbs/call0.args"
[[ ${#a0[@]} == 3 && ${a0[0]} == -q && ${a0[1]} == batch && ${a0[2]} == */job.pbs ]] || fail "job: qsub ${a0[*]}"
grep -v '^#BITLIB ' "$W/job.pbs" | cmp - "$W/pbs/call0.script" || fail "qsub was not given the script less its directives"
mapfile -t a1 <"$W/pbs/call1.args"
want=(-N offload-1700.pb -j oe -o "$W/bitlib-offload-1700.pbs-server.log" -W depend=afterany:1700.pbs-server
      -q io "$W/bitlib-offload-1700.pbs-server.stageout.sh")
[[ "${a1[*]}" == "${want[*]}" ]] || fail "stage-out: qsub ${a1[*]}"
echo "   job:       qsub ${a0[*]}"
echo "   stage-out: qsub ${a1[*]}"
mkdir "$W/pbsresults"
head -c 1234567 /dev/urandom >"$W/pbsresults/final.dat"
netlab_exec 0 sh "$W/pbs/call1.script" >"$W/pbsstage.log" 2>&1 || fail "the PBS stage-out script failed: $(tail -3 "$W/pbsstage.log")"
grep -q "to fetch them: bitlib offload pull $W/bitlib-offload-1700.pbs-server.manifest --out sitedir" "$W/pbsstage.log" ||
    fail "PBS stage-out log: $(cat "$W/pbsstage.log")"
mkdir "$W/pbspulled"
netlab_exec 0 "$BITLIB" offload pull "$W/bitlib-offload-1700.pbs-server.manifest" --out "$W/pbspulled" >/dev/null 2>"$W/pbspull.err" ||
    fail "PBS pull: $(tail -1 "$W/pbspull.err")"
cmp "$W/pbsresults/final.dat" "$W/pbspulled/final.dat" || fail "PBS: final.dat differs"
echo "   the stage-out script run as PBS would: pushed, pulled back identical"

echo "== PBS: the stage-out cannot be submitted: the job is cancelled, and that is said"
rm -f "$W/pbs"/*
rc=0
(cd "$W" && PBSFAKE=$W/pbs QSUB_FAIL_CALL=1 PATH="$W/pbsbin:$PATH" "$BITLIB" offload submit job.pbs --key-file key) \
    >"$W/pbs2.out" 2>"$W/pbs2.err" || rc=$?
(( rc == 1 )) || fail "stage-out refused: exit $rc"
[[ $(cat "$W/pbs/qdel.args") == 1700.pbs-server ]] || fail "qdel was not run on the job: $(cat "$W/pbs/qdel.args" 2>&1)"
grep -q "job 1700.pbs-server cancelled" "$W/pbs2.err" || fail "stage-out refused: $(cat "$W/pbs2.err")"
sed 's/^/   /' "$W/pbs2.err"

if grep -l "AddressSanitizer\|runtime error" "$W"/*.log "$W"/*.err "$W"/out/*.log 2>/dev/null; then
    fail "a sanitizer reported an error (files above)"
fi
echo "PASS"
