# swarmtest.sh: the common start of the t_swarm_*.sh tests.  Source it (after
# `set -euo pipefail`), then call
#
#   swarm_test_init NAME [TOOL...]   root, ip/tc/nsenter/perl/ss/jq, the TOOLs and python
#                                    are required (SKIP, exit 77, without them); sets
#                                    BITLIB (absolute), STOCK_BITLIB, TMP (a work directory)
#                                    and the cleanup (cleanup.sh) that tears the cluster down
#                                    however the test ends, prints the
#                                    tail of every log under $TMP when the test failed
#                                    (TAIL_LINES lines, default 12) and removes $TMP
#   swarm_require_libtorrent         SKIP unless python3-libtorrent imports
#   fail MESSAGE                     print "FAIL: MESSAGE" and exit 1
_swarmtest_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_swarmtest_dir/netlab.sh"
. "$_swarmtest_dir/stock.sh"

fail() { echo "FAIL: $*"; exit 1; }

. "$_swarmtest_dir/cleanup.sh"

# Run by the cleanup (cleanup.sh) once the cluster is down.
_swarm_test_report() {
    local f
    if ((CL_RC != 0 && CL_RC != 77)); then
        for f in "$TMP"/*.log "$TMP"/*/*.log; do
            [[ -f "$f" ]] || continue
            echo "---- $f (tail)"
            tr '\r' '\n' <"$f" | tail -n "${TAIL_LINES:-12}" # progress bars use \r
        done
    fi
    return 0
}

swarm_test_init() {
    local name=$1
    shift
    BITLIB=$(realpath "${BITLIB:-build/bitlib}")
    STOCK_BITLIB=$BITLIB
    [[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
    stock_require ip tc nsenter perl ss jq "$@" "$STOCK_PY"
    [[ -x "$BITLIB" ]] || { echo "FAIL: $BITLIB not built"; exit 1; }
    cl_init
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    cl_track_dir "$TMP"
    cl_on_exit _swarm_test_report
}

swarm_require_libtorrent() {
    "$STOCK_PY" -c 'import libtorrent' 2>/dev/null || { echo "SKIP: python3-libtorrent missing"; exit 77; }
}
