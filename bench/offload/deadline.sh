# shellcheck shell=bash
# deadline.sh: the deadline part of bench/offload/run (sourced by it; uses its helpers:
# htb_shape, netlab_*, log, die, $W, $BITLIB, $CSV, $OUT, $STAMP).
#
# The paper's section 5.4 (its Figure 6), time scaled by 1/10: an offload with a deadline
# of --deadline-secs (default 60 s, the paper's 600 s) to four depots N1..N4 whose rates
# from the center are DL_RATES Mbit/s (default 40 35 30 25, by decreasing rate as in the
# paper, where N1 and N2 are used first), --deadline-mib MiB (default 320: N1 alone would
# take 67 s, N1+N2 36 s), no coding (--rs 1:1, as the paper's BitTorrent transfer: the
# fan-out may then be 1..4), 256 KiB chunks.  At DL_T2 (default 8 s) N1 is throttled to
# DL_SLOW Mbit/s (4, a tenth; the paper: "about 1 MB/s"), at DL_T3 (18 s) N2 is
# SIGKILLed.  The center's per-depot bytes are sampled every 0.25 s from its HTB class
# counters (bench/lib/offload_tcsample.py); reported: per-depot Mbit/s per second, the
# push's own verdict on the deadline, its warnings, and the release time; plotted to
# offload-deadline-STAMP.png.  What the paper also does and bitlib's push cannot yet: start
# with a direct transfer to the user's site and switch to staging when the destination is
# throttled (push has no direct mode), and let N1 recover (t4/t5).
DL_RATES=${DL_RATES:-"40 35 30 25"}
DL_T2=${DL_T2:-8} DL_T3=${DL_T3:-18} DL_SLOW=${DL_SLOW:-4}

run_deadline() {
    log "deadline: $DL_MIB MiB, deadline ${DL_SECS}s, depots at $DL_RATES Mbit/s; N1 -> $DL_SLOW Mbit/s at ${DL_T2}s, N2 killed at ${DL_T3}s"
    export NETLAB_PREFIX=${NETLAB_PREFIX:-ob} NETLAB_NET=${NETLAB_NET:-10.93.1}
    netlab_up 5
    local rates spec="" i D=() pids=()
    read -r -a rates <<<"$DL_RATES"
    (( ${#rates[@]} == 4 )) || die "DL_RATES needs four rates, got '$DL_RATES'"
    for i in 1 2 3 4; do spec+=" $i:${rates[$((i - 1))]}"; done
    htb_shape 0 "$spec"
    for i in 1 2 3 4; do
        pids[$i]=$(netlab_spawn "$i" "$W/dl-depot$i.log" "$BITLIB" depot --store "$W/dlstore$i" \
            --capacity 100G --listen "$(netlab_ip "$i"):$DPORT" --key-file "$W/key" -q)
        D+=(--depot "$(netlab_ip "$i"):$DPORT")
    done
    for i in 1 2 3 4; do netlab_wait_listen "$i" "$DPORT" 20 || die "depot N$i did not start"; done
    head -c $(( DL_MIB << 20 )) /dev/urandom >"$W/dl.dat"
    rm -f "$W/dl.stop" "$W/dl.samples"
    python3 "$ROOT/bench/lib/offload_tcsample.py" "$(netlab_ns 0)" eth0 0.25 "$W/dl.stop" "$W/dl.samples" &
    local sampler=$!
    cl_track_pid "$sampler"
    sleep 0.5   # a baseline sample before the push starts
    local t0 t1 rc=0 ts
    ts=$(awk '{ t = $1 } END { print t + 0 }' "$W/dl.samples")   # sampler time at the push start
    t0=$(now)
    netlab_exec 0 "$BITLIB" offload push "$W/dl.dat" --manifest "$W/dl.manifest" --key-file "$W/key" \
        "${D[@]}" --rs 1:1 --chunk 256K --deadline "+$DL_SECS" >"$W/dl.out" 2>"$W/dl.err" &
    local pushpid=$!
    cl_track_pid "$pushpid"
    (
        sleep "$DL_T2"
        tc -n "$(netlab_ns 0)" class change dev eth0 parent 1: classid 1:10 htb rate "${DL_SLOW}mbit" \
            ceil "${DL_SLOW}mbit" burst 128k cburst 128k quantum 60000
        sleep "$(( DL_T3 - DL_T2 ))"
        kill -KILL "${pids[2]}"
    ) &
    local events=$!
    wait "$pushpid" || rc=$?
    t1=$(now)
    kill "$events" 2>/dev/null || true
    wait "$events" 2>/dev/null || true
    touch "$W/dl.stop"
    wait "$sampler" 2>/dev/null || true
    cp "$W/dl.err" "$OUT/offload-$STAMP-deadline-push.log"
    DL_RELEASE=$(elapsed "$t0" "$t1")
    DL_SUMMARY=$(tail -1 "$W/dl.out")
    DL_RC=$rc
    echo "deadline,1,$DL_MIB,release,$DL_RELEASE,rc=$rc" >>"$CSV"
    # verify: the offload pulls back identical from the depots still up
    if (( rc == 0 )); then
        mkdir -p "$W/dlpulled"
        netlab_exec 0 "$BITLIB" offload pull "$W/dl.manifest" --out "$W/dlpulled" --timeout 2 \
            >"$W/dlpull.out" 2>&1 || die "deadline: pull failed: $(tail -1 "$W/dlpull.out")"
        cmp -s "$W/dl.dat" "$W/dlpulled/dl.dat" || die "deadline: pulled data differs"
        DL_PULL="pulled back identical from the depots still up"
    else
        DL_PULL="push exited $rc: not pulled"
    fi
    # per-second Mbit/s per depot (class 1:10 + i - 1 is N_i), from the push start
    python3 - "$W/dl.samples" "$ts" >"$W/dl.dat.rates" <<'EOF'
import sys
from collections import defaultdict
samples = defaultdict(list)
t0 = float(sys.argv[2])
for line in open(sys.argv[1]):
    t, cls, b = line.split()
    samples[cls].append((float(t) - t0, int(b)))
classes = ["1:10", "1:11", "1:12", "1:13"]
end = max(t for c in classes for t, _ in samples[c])
def at(c, t):            # bytes sent by class c at time t (linear between samples)
    s = samples[c]
    prev = s[0]
    for x in s:
        if x[0] >= t:
            if x[0] == prev[0]:
                return x[1]
            return prev[1] + (x[1] - prev[1]) * (t - prev[0]) / (x[0] - prev[0])
        prev = x
    return s[-1][1]
t = 0
while t < end:
    r = [(at(c, t + 1) - at(c, t)) * 8 / 1e6 for c in classes]
    print(f"{t + 0.5:.1f} " + " ".join(f"{x:.2f}" for x in r) + f" {sum(r):.2f}")
    t += 1
EOF
    netlab_down
    gnuplot -e "datafile='$W/dl.dat.rates'; outfile='$OUT/offload-deadline-$STAMP.png'; \
t2=$DL_T2; t3=$DL_T3; dl=$DL_SECS; heading='bench/offload deadline: $DL_MIB MiB, depots $DL_RATES Mbit/s, N1 to $DL_SLOW at ${DL_T2}s, N2 killed at ${DL_T3}s, deadline ${DL_SECS}s'" \
        "$ROOT/bench/lib/offload_deadline.gp"
}

deadline_report() {
    echo
    echo "Deadline (section 5.4, time / 10): $DL_MIB MiB, deadline ${DL_SECS}s, depots N1..N4 at $DL_RATES Mbit/s;"
    echo "N1 throttled to $DL_SLOW Mbit/s at ${DL_T2}s, N2 SIGKILLed at ${DL_T3}s"
    echo "release after $DL_RELEASE s (push exit $DL_RC); $DL_PULL"
    echo "push: $DL_SUMMARY"
    grep -h "WARN" "$W/dl.err" | sed 's/^[^ ]* [^ ]* /  /' | head -8
    echo "center -> depot Mbit/s per second (from its HTB class counters):"
    printf '%6s %7s %7s %7s %7s %7s\n' t N1 N2 N3 N4 total
    awk '{ printf "%6s %7s %7s %7s %7s %7s\n", $1, $2, $3, $4, $5, $6 }' "$W/dl.dat.rates"
    echo "plot: $OUT/offload-deadline-$STAMP.png"
}
