#!/usr/bin/env bash
# ondemand_node.sh: one bench/ondemand node after the start gate: mount the set, then read
# the library list like a dynamic loader (ondemand_loader.py).  Runs inside the node's
# network namespace (the mount is visible to the harness: same mount namespace).
#
#   ondemand_node.sh BITLIB DESC MP CACHE LOG LIST OUTDIR I LISTEN TIMEOUT [mount options]
# Writes OUTDIR/I.mount (mount returned, epoch seconds), OUTDIR/I.pid (the daemon's PID, for
# cleanup), OUTDIR/I.json (the loader's times) and OUTDIR/I.done when the reads are done.
set -euo pipefail
BITLIB=$1 DESC=$2 MP=$3 CACHE=$4 LOG=$5 LIST=$6 OUT=$7 I=$8 LISTEN=$9 TMO=${10}
shift 10
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wait_complete=()
[[ " $* " == *" bulk "* ]] && wait_complete=(--wait-complete "$MP" --bitlib "$BITLIB")
mkdir -p "$MP" "$CACHE"
timeout "$TMO" "$BITLIB" mount "$DESC" "$MP" --cache "$CACHE" --listen "$LISTEN" --log "$LOG" "$@"
date +%s.%N >"$OUT/$I.mount"
"$BITLIB" status "$MP" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' \
    >"$OUT/$I.pid"
/usr/bin/python3 "$HERE/ondemand_loader.py" "$MP" "$LIST" "$OUT/$I.json" --timeout "$TMO" \
    "${wait_complete[@]}"
date +%s.%N >"$OUT/$I.done"
