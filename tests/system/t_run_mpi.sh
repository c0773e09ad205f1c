#!/usr/bin/env bash
# t_run_mpi: bitlib run under MPICH's mpiexec on a 2-node namespace cluster.
#
# Node 0 runs bitlib tracker, bitlib seed and mpiexec (Hydra, -launcher ssh with
# lib/nsnode-ssh: the "ssh" runs the proxy in node n1 or n2's network namespace with that
# node's runtime directory).  `mpiexec -hosts n1,n2 -np 8 -ppn 4 bitlib run DESC -- PROG`:
#   - an MPI program (outside the set, linked against libmpiwork.so from the set, found
#     through the LD_LIBRARY_PATH bitlib run sets) completes on 8 ranks, 4 per node; its
#     MPI_Allreduce result is right;
#   - a Python program importing an extension module from the set (PYTHONPATH detected)
#     runs on 8 ranks;
#   - each node has exactly one daemon for its 4 ranks; after the jobs nothing is mounted
#     and no daemon runs.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
. "$HERE/lib/runlab.sh"
PY=/usr/bin/python3
ml_require gcc mpiexec mpicc "$PY"
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' ||
    { echo "SKIP: no Python.h (python3-dev)"; exit 77; }
ml_init run_mpi
export NSNODE_RUNDIRS=$ML/nodes
mpi_cleanup() {
    local rc=$? d
    set +e   # a failing step must not end the cleanup
    for d in "$NSNODE_RUNDIRS"/n*/mnt-*; do if [[ -e "$d" ]]; then rl_reap "$d"; fi; done
    (exit $rc); ml_cleanup
}
trap mpi_cleanup EXIT

echo "== the set: libmpiwork.so (MPI), a Python package with a C extension"
S=$ML/set
mkdir -p "$S/lib" "$S/py/blpkg"
cat >"$ML/work.c" <<'C'
#include <mpi.h>
/* the sum of every rank's (rank + 1) */
long mpiwork_sum(void)
{
    int rank;
    long mine, sum = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    mine = rank + 1;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    return sum;
}
C
mpicc -shared -fPIC -O1 -o "$S/lib/libmpiwork.so" "$ML/work.c"
cat >"$ML/app.c" <<'C'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
long mpiwork_sum(void);
int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long s = mpiwork_sum();
    const char *rd = getenv("BITLIB_RUNTIME_DIR");
    printf("rank %d of %d node %s sum %ld\n", rank, size, rd ? rd + strlen(rd) - 2 : "?", s);
    MPI_Finalize();
    return 0;
}
C
sed -i 's/#include <stdlib.h>/#include <stdlib.h>\n#include <string.h>/' "$ML/app.c"
mpicc -O1 -o "$ML/mpi_app" "$ML/app.c" -L"$S/lib" -lmpiwork
"$HERE/lib/mkpyext.sh" "$S" "$PY"
cat >"$ML/app.py" <<'P'
import os, blpkg
# one write per line: ranks share mpiexec's stdout (and PYTHONUNBUFFERED splits print())
os.write(1, ("pyrank %s %d %s\n" % (os.environ.get("PMI_RANK"), blpkg.mul(6, 7), blpkg._blext.__file__)).encode())
P

netlab_up 3 200
T="http://$(netlab_ip 0):6969/announce"
"$BITLIB" create -q -o "$ML/set.torrent" --tracker "$T" "$S"
netlab_spawn 0 "$ML/tracker.log" "$BITLIB" tracker --listen "$(netlab_ip 0):6969" >/dev/null
netlab_wait_listen 0 6969
netlab_spawn 0 "$ML/seed.log" "$BITLIB" seed "$ML/set.torrent" "$S" --listen "$(netlab_ip 0):6881" >/dev/null
netlab_wait_listen 0 6881 30

# every rank: bitlib run with its node's own cache (the emulated nodes share one disk)
RANK_CMD=(sh -c 'exec "$0" run -v --cache "$BITLIB_RUNTIME_DIR/cache" "$@"' "$BITLIB")
mpirun8() {
    netlab_exec 0 timeout 120 mpiexec -iface eth0 -launcher ssh -launcher-exec "$HERE/lib/nsnode-ssh" \
        -hosts n1,n2 -np 8 -ppn 4 "${RANK_CMD[@]}" "$ML/set.torrent" -- "$@"
}

# one daemon per node: started once and joined 3 times per mount point, one pid each
check_daemons() {
    local log=$1 mp
    for n in n1 n2; do
        mp="$NSNODE_RUNDIRS/$n/"
        s=$(grep -c "started the mount daemon .* of $mp" "$log" || true)
        j=$(grep -c "joined the mount daemon .* of $mp" "$log" || true)
        p=$(grep "mount daemon .* of $mp" "$log" | grep -o "pid [0-9]*" | sort -u | wc -l)
        echo "   $n: started $s, joined $j, daemon pids $p"
        ((s == 1 && j == 3 && p == 1)) || { cat "$log"; ml_fail "$n: not one daemon for its 4 ranks"; }
    done
}

echo "== mpiexec -hosts n1,n2 -np 8: an MPI program linked against the set's library"
mpirun8 "$ML/mpi_app" >"$ML/mpi.out" 2>"$ML/mpi.err" || { cat "$ML/mpi.err"; ml_fail "mpiexec failed"; }
cat "$ML/mpi.out" | sort | sed 's/^/   /'
(( $(grep -c "of 8 node .* sum 36" "$ML/mpi.out") == 8 )) || ml_fail "not 8 ranks with sum 36"
(( $(grep -c "node n1 " "$ML/mpi.out") == 4 && $(grep -c "node n2 " "$ML/mpi.out") == 4 )) ||
    ml_fail "not 4 ranks per node"
check_daemons "$ML/mpi.err"
sleep 0.5
for n in n1 n2; do rl_assert_clean "$NSNODE_RUNDIRS/$n" "$(ls -d "$NSNODE_RUNDIRS/$n"/mnt-*)"; done

echo "== mpiexec -np 8: python3 imports an extension module from the set"
mpirun8 "$PY" "$ML/app.py" >"$ML/py.out" 2>"$ML/py.err" || { cat "$ML/py.err"; ml_fail "mpiexec python failed"; }
sort "$ML/py.out" | sed 's/^/   /'
(( $(grep -c "^pyrank [0-7] 42 $NSNODE_RUNDIRS/n[12]/mnt-[0-9a-f]*/py/blpkg/_blext" "$ML/py.out") == 8 )) ||
    ml_fail "python ranks did not import from the mounts"
check_daemons "$ML/py.err"
sleep 0.5
for n in n1 n2; do rl_assert_clean "$NSNODE_RUNDIRS/$n" "$(ls -d "$NSNODE_RUNDIRS/$n"/mnt-*)"; done
echo "   after each job: no mount, no daemon, nothing in the runtime directories"
echo PASS
