# netlab.sh: an emulated cluster in Linux network namespaces.  Source it; needs root.
#
# Contract
#   netlab_up N [RATE_MBIT]   make N nodes (0..N-1) joined by one bridge; with RATE, every link
#                             is limited to RATE Mbit/s in each direction (tc tbf).
#   netlab_exec I CMD...      run CMD in node I (foreground), via nsenter --net (so the mount
#                             namespace, and with it every FUSE mount, is the caller's).
#   netlab_spawn I LOG CMD... start CMD in node I in the background, in its own process group,
#                             stdout+stderr to LOG, stdin from /dev/null; records the PID for
#                             netlab_down, sets NETLAB_LAST_PID and echoes the PID.
#   netlab_ip I               node I's address.        netlab_ns I   node I's namespace name.
#   netlab_tx_bytes I / netlab_rx_bytes I   bytes node I's interface sent / received.
#   netlab_cut I / netlab_heal I            take node I's link down / up (fault injection).
#   netlab_wait_listen I PORT [SECS]        wait until something listens on TCP PORT in node I.
#   netlab_alive PID                        true while PID exists and is not a zombie.
#   netlab_down               kill every recorded process (by PID / process group) and every
#                             process left in our namespaces, then delete the namespaces.
#                             Idempotent, safe from an EXIT trap after a partial netlab_up.
#
# Layout: nothing is created in the caller's network namespace.  The bridge lives in its own
# namespace "${NETLAB_PREFIX}-hub"; node I is namespace "${NETLAB_PREFIX}-I" with interface
# "eth0" = ${NETLAB_NET}.(I+1)/24, paired with "pI" on the hub's bridge "br0".  The host has no
# route into the cluster and the cluster none out of it.  IPv6 is off everywhere so no stray
# router solicitations show up in the byte counters.
#
# Environment (all optional; set before netlab_up):
#   NETLAB_PREFIX   name prefix (default nl<shell pid>, with a letter appended if taken)
#   NETLAB_NET      first three octets of the /24 (default 10.77.X, X from the pid)
#   NETLAB_BURST    tbf burst (default 128kb; veth GSO packets need >= 64 KiB)
#   NETLAB_LATENCY  tbf queue length as latency (default 20ms)
#   NETLAB_KILL_WAIT whole seconds to wait after SIGTERM before SIGKILL (default 3)
# Every function is safe under `set -euo pipefail` in the caller.
# Exported state after netlab_up: NETLAB_PREFIX NETLAB_NET NETLAB_N NETLAB_RATE NETLAB_DIR
# NETLAB_OWNER (NETLAB_DIR holds the PID list, so processes spawned from subshells are tracked
# too).  A child script inherits the cluster and may use netlab_exec/spawn/ip/counters on it;
# netlab_down there is a no-op, and netlab_up there makes a new cluster of its own.

_netlab_log() { echo "netlab: $*" >&2; }

# Run a setup step; on failure say which one.
_netlab_do() {
    "$@" || { _netlab_log "failed: $*"; return 1; }
}

netlab_ns() { echo "${NETLAB_PREFIX}-$1"; }
netlab_hub_ns() { echo "${NETLAB_PREFIX}-hub"; }

_netlab_check_index() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && (( $1 < ${NETLAB_N:-0} )) && return 0
    _netlab_log "no node '${1:-}' (have ${NETLAB_N:-0} nodes)"
    return 1
}

netlab_ip() {
    _netlab_check_index "${1:-}" || return 1
    echo "${NETLAB_NET}.$(( $1 + 1 ))"
}

# Start time (clock ticks since boot) of a PID, to tell a recycled PID from ours.
_netlab_starttime() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }                       # drop "pid (comm) "; comm may hold spaces
    set -- $s                         # $1 = state ... field 22 of stat is $20 here
    echo "${20}"
}

# True while PID exists and is not a zombie.
netlab_alive() { _netlab_alive "$@"; }
_netlab_alive() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [[ "${s:0:1}" != Z && "${s:0:1}" != X ]]
}

netlab_up() {
    local n=${1:-} rate=${2:-} i ns hub ip
    if ! [[ "$n" =~ ^[0-9]+$ ]] || (( n < 1 || n > 250 )); then
        _netlab_log "usage: netlab_up N [RATE_MBIT] (1 <= N <= 250)"; return 1
    fi
    if [[ -n "$rate" ]] && ! [[ "$rate" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
        _netlab_log "rate must be a number of Mbit/s, got '$rate'"; return 1
    fi
    if [[ -n "${NETLAB_OWNER:-}" && "$NETLAB_OWNER" != "$$" ]]; then
        # Inherited from a parent process: that cluster is the parent's, start our own.
        NETLAB_PREFIX= NETLAB_N= NETLAB_DIR=
    fi
    if [[ -n "${NETLAB_N:-}" && -e "/run/netns/${NETLAB_PREFIX}-hub" ]]; then
        _netlab_log "already up ($NETLAB_PREFIX); call netlab_down first"; return 1
    fi
    if [[ -z "${NETLAB_PREFIX:-}" ]]; then
        NETLAB_PREFIX="nl$$"
        local suffix
        for suffix in "" a b c d e f g h; do
            if ! compgen -G "/run/netns/nl$$$suffix-*" >/dev/null; then
                NETLAB_PREFIX="nl$$$suffix"; break
            fi
        done
    fi
    : "${NETLAB_NET:=10.77.$(( $$ % 250 + 1 ))}"
    NETLAB_N=$n
    NETLAB_RATE=$rate
    NETLAB_DIR="${TMPDIR:-/tmp}/netlab.$NETLAB_PREFIX"
    NETLAB_OWNER=$$
    export NETLAB_PREFIX NETLAB_NET NETLAB_N NETLAB_RATE NETLAB_DIR NETLAB_OWNER
    mkdir -p "$NETLAB_DIR" && : >>"$NETLAB_DIR/pids" || return 1

    hub=$(netlab_hub_ns)
    _netlab_do ip netns add "$hub" || return 1
    _netlab_do ip netns exec "$hub" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 || return 1
    _netlab_do ip -n "$hub" link add br0 type bridge || return 1
    _netlab_do ip -n "$hub" link set br0 up || return 1
    for (( i = 0; i < n; i++ )); do
        ns=$(netlab_ns "$i")
        ip=$(netlab_ip "$i")
        _netlab_do ip netns add "$ns" || return 1
        _netlab_do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 || return 1
        _netlab_do ip -n "$hub" link add "p$i" type veth peer name eth0 netns "$ns" || return 1
        _netlab_do ip -n "$hub" link set "p$i" master br0 up || return 1
        _netlab_do ip -n "$ns" addr add "$ip/24" dev eth0 || return 1
        _netlab_do ip -n "$ns" link set lo up || return 1
        _netlab_do ip -n "$ns" link set eth0 up || return 1
        if [[ -n "$rate" ]]; then
            # Node's upload is eth0's egress; its download is the hub port's egress.
            _netlab_do tc -n "$ns" qdisc replace dev eth0 root tbf rate "${rate}mbit" \
                burst "${NETLAB_BURST:-128kb}" latency "${NETLAB_LATENCY:-20ms}" || return 1
            _netlab_do tc -n "$hub" qdisc replace dev "p$i" root tbf rate "${rate}mbit" \
                burst "${NETLAB_BURST:-128kb}" latency "${NETLAB_LATENCY:-20ms}" || return 1
        fi
    done
    # Links come up asynchronously; wait (bounded) until every node's eth0 is running.
    local deadline=$(( SECONDS + 10 )) state
    for (( i = 0; i < n; i++ )); do
        while :; do
            state=$(ip -n "$(netlab_ns "$i")" -o link show eth0 2>/dev/null)
            [[ "$state" == *"state UP"* ]] && break
            if (( SECONDS > deadline )); then
                _netlab_log "eth0 of node $i did not come up"; return 1
            fi
            sleep 0.05
        done
    done
    return 0
}

netlab_exec() {
    _netlab_check_index "${1:-}" || return 1
    local ns
    ns=$(netlab_ns "$1"); shift
    nsenter --net="/run/netns/$ns" -- "$@"
}

netlab_spawn() {
    _netlab_check_index "${1:-}" || return 1
    local ns log=${2:-} pid start
    [[ -n "$log" && $# -ge 3 ]] || { _netlab_log "usage: netlab_spawn I LOGFILE CMD..."; return 1; }
    [[ -d "${NETLAB_DIR:-}" ]] || { _netlab_log "netlab_spawn before netlab_up"; return 1; }
    ns=$(netlab_ns "$1"); shift 2
    # perl makes the process its own group leader (so its children can be signalled with it)
    # and execs nsenter, which execs CMD: the PID we record is CMD's PID.
    perl -e 'setpgrp(0, 0); exec { $ARGV[0] } @ARGV or die "netlab: exec $ARGV[0]: $!\n"' \
        nsenter --net="/run/netns/$ns" -- "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    start=$(_netlab_starttime "$pid") || start=0
    echo "$pid $start" >>"$NETLAB_DIR/pids"
    NETLAB_LAST_PID=$pid
    echo "$pid"
}

# Field 10 (tx) or 2 (rx) of node I's eth0 line in /proc/net/dev, read inside the namespace.
_netlab_counter() {
    _netlab_check_index "${1:-}" || return 1
    netlab_exec "$1" cat /proc/net/dev | awk -v f="$2" '
        { split($0, a, ":"); name = a[1]; gsub(/ /, "", name) }
        name == "eth0" { split(a[2], v, " "); print v[f]; found = 1 }
        END { exit !found }'
}
netlab_rx_bytes() { _netlab_counter "${1:-}" 1; }
netlab_tx_bytes() { _netlab_counter "${1:-}" 9; }

netlab_cut()  { _netlab_check_index "${1:-}" && ip -n "$(netlab_hub_ns)" link set "p$1" down; }
netlab_heal() { _netlab_check_index "${1:-}" && ip -n "$(netlab_hub_ns)" link set "p$1" up; }

netlab_wait_listen() {
    _netlab_check_index "${1:-}" || return 1
    local i=$1 port=${2:?port} secs=${3:-10} deadline
    deadline=$(( $(date +%s%N) + secs * 1000000000 ))
    while (( $(date +%s%N) < deadline )); do
        [[ -n "$(netlab_exec "$i" ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
        sleep 0.05
    done
    _netlab_log "nothing listens on port $port in node $i after ${secs}s"
    return 1
}

# PIDs of every process whose network namespace is one of ours.
_netlab_ns_pids() {
    local f
    for f in /run/netns/"${NETLAB_PREFIX}"-*; do
        [[ -e "$f" ]] || continue
        ip netns pids "${f##*/}" 2>/dev/null
    done
}

# Signal every process we own: recorded PIDs (checked against their start time), their
# process groups, and whatever still runs inside our namespaces.
_netlab_signal_all() {
    local sig=$1 pid start now
    if [[ -f "${NETLAB_DIR:-}/pids" ]]; then
        while read -r pid start; do
            [[ "$pid" =~ ^[0-9]+$ ]] || continue
            now=$(_netlab_starttime "$pid") || now=
            if [[ -n "$now" && "$now" == "$start" ]]; then
                kill "-$sig" -- "-$pid" 2>/dev/null || true
                kill "-$sig" "$pid" 2>/dev/null || true
            fi
        done <"$NETLAB_DIR/pids"
    fi
    for pid in $(_netlab_ns_pids); do
        kill "-$sig" "$pid" 2>/dev/null || true
    done
    return 0
}

# True when none of our processes is still alive.
_netlab_all_gone() {
    local pid start now
    if [[ -f "${NETLAB_DIR:-}/pids" ]]; then
        while read -r pid start; do
            now=$(_netlab_starttime "$pid") || continue
            [[ "$now" == "$start" ]] && _netlab_alive "$pid" && return 1
        done <"$NETLAB_DIR/pids"
    fi
    for pid in $(_netlab_ns_pids); do
        _netlab_alive "$pid" && return 1
    done
    return 0
}

netlab_down() {
    [[ -n "${NETLAB_PREFIX:-}" ]] || return 0
    if [[ -n "${NETLAB_OWNER:-}" && "$NETLAB_OWNER" != "$$" ]]; then
        _netlab_log "netlab_down: cluster $NETLAB_PREFIX belongs to process $NETLAB_OWNER; left up"
        return 0
    fi
    local deadline f pid start left
    _netlab_signal_all TERM
    deadline=$(( $(date +%s%N) + ${NETLAB_KILL_WAIT:-3} * 1000000000 ))
    until _netlab_all_gone || (( $(date +%s%N) > deadline )); do sleep 0.05; done
    if ! _netlab_all_gone; then
        _netlab_signal_all KILL
        deadline=$(( $(date +%s%N) + 2000000000 ))
        until _netlab_all_gone || (( $(date +%s%N) > deadline )); do sleep 0.05; done
    fi
    # Reap the ones that are this shell's children (wait only on dead ones: never blocks).
    if [[ -f "${NETLAB_DIR:-}/pids" ]]; then
        while read -r pid start; do
            _netlab_alive "$pid" || wait "$pid" 2>/dev/null || true
        done <"$NETLAB_DIR/pids"
    fi
    left=$(_netlab_ns_pids | tr '\n' ' ')
    [[ -z "${left// /}" ]] || _netlab_log "processes still in our namespaces: $left"
    for f in /run/netns/"${NETLAB_PREFIX}"-*; do
        [[ -e "$f" ]] || continue
        ip netns del "${f##*/}" 2>/dev/null || _netlab_log "could not delete namespace ${f##*/}"
    done
    if [[ -n "${NETLAB_DIR:-}" && -d "$NETLAB_DIR" ]]; then rm -rf -- "$NETLAB_DIR"; fi
    NETLAB_N=
    return 0
}
