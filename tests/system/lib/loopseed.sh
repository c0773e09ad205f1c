# loopseed.sh: a `bitlib seed` on loopback for tests that need no cluster.  Source it after
# cleanup.sh (cl_init done); needs BITLIB.
#
#   loopseed DESC DIR LOG   start `bitlib seed DESC DIR` on 127.0.0.1, a free port, stderr to
#                           LOG, tracked for cleanup; sets LOOPSEED_PORT once it listens
#                           (fails after 10 s)
loopseed() {
    local desc=$1 dir=$2 log=$3
    "$BITLIB" seed "$desc" "$dir" --listen 127.0.0.1:0 --no-tracker 2>"$log" &
    cl_track_pid $!
    LOOPSEED_PORT=
    for _ in $(seq 100); do
        LOOPSEED_PORT=$(grep -o 'listening for peers on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [[ -n $LOOPSEED_PORT ]] && return 0
        sleep 0.1
    done
    echo "loopseed: the seeder did not start: $(tail -3 "$log")" >&2
    return 1
}
