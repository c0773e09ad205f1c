# stock.sh: run stock BitTorrent clients (and opentracker) inside netlab nodes.  Source it
# after netlab.sh; every process is started with netlab_spawn, so netlab_down stops it.
#
# Contract (I = netlab node index; every wait is bounded):
#   stock_require TOOL...                 exit 77 (skip) unless each tool is installed
#   stock_infohash TORRENT                hex info-hash (bitlib inspect --json)
#   stock_opentracker I PORT WORKDIR HASH...   start opentracker on node I (TCP+UDP PORT),
#                                         whitelisting HASH...; echoes the announce URL
#   stock_announce I URL HASH PORT [LEFT] announce (event=started) from node I for a peer
#                                         listening on node I's address:PORT (a bitlib node
#                                         that does not announce by itself)
#   stock_lt I LOG TORRENT DIR PORT [lt_peer.py options]   python3-libtorrent peer (lt_peer.py)
#   stock_aria2 I LOG TORRENT DIR PORT [seed]   aria2c leecher (exits when complete); with
#                                         "seed", a seeder of DIR that runs until killed
#   stock_transmission I LOG TORRENT DIR PORT DONEFILE   transmission-cli leecher; touches
#                                         DONEFILE when complete (it never exits by itself)
#   stock_ctorrent I LOG TORRENT DIR PORT DONEFILE [seed]  ctorrent leecher (touches DONEFILE
#                                         on completion) or seeder (-f: trusts DIR)
#   stock_materialize_pads TORRENT DIR    create the BEP 47 pad files (zeros) a client without
#                                         pad-file support expects under DIR
#   stock_wait_file FILE SECS             wait until FILE exists
#   stock_wait_pid PID SECS               wait until PID exits (not necessarily our child)
#   stock_same_tree SRC DST               every regular file under SRC (but .pad/) has the
#                                         same SHA-256 under DST; prints a one-line verdict
# Needs: STOCK_BITLIB (default ${BITLIB:-build/bitlib}), STOCK_TMP (a scratch directory).

STOCK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STOCK_PY=/usr/bin/python3

_stock_log() { echo "stock: $*" >&2; }

stock_require() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
    done
}

stock_infohash() {
    "${STOCK_BITLIB:-${BITLIB:-build/bitlib}}" inspect --json "$1" | jq -r .info_hash
}

stock_opentracker() {
    local i=$1 port=$2 dir=$3 h ip
    shift 3
    mkdir -p "$dir"
    chmod 755 "$dir"
    : >"$dir/whitelist"
    for h in "$@"; do echo "$h" >>"$dir/whitelist"; done
    chmod 644 "$dir/whitelist"
    ip=$(netlab_ip "$i")
    netlab_spawn "$i" "$dir/opentracker.log" opentracker -i "$ip" -p "$port" -P "$port" \
        -d "$dir" -u nobody -w whitelist >/dev/null
    netlab_wait_listen "$i" "$port" 10 >&2 || { cat "$dir/opentracker.log" >&2; return 1; }
    echo "http://$ip:$port/announce"
}

stock_announce() {
    local i=$1 url=$2 hash=$3 port=$4 left=${5:-0}
    netlab_exec "$i" timeout 10 "$STOCK_PY" - "$url" "$hash" "$port" "$left" <<'EOF'
import sys, urllib.parse, urllib.request, os
url, h, port, left = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4]
q = "info_hash=%s&peer_id=%s&port=%s&uploaded=0&downloaded=0&left=%s&compact=1&event=started" % (
    urllib.parse.quote(h), urllib.parse.quote(b"-XX0000-" + os.urandom(6).hex().encode()[:12]),
    port, left)
body = urllib.request.urlopen(url + "?" + q, timeout=5).read()
if b"failure" in body:
    sys.exit("announce refused: %r" % body[:200])
EOF
}

stock_lt() {
    local i=$1 log=$2 torrent=$3 dir=$4 port=$5
    shift 5
    mkdir -p "$dir"
    netlab_spawn "$i" "$log" "$STOCK_PY" "$STOCK_LIB_DIR/lt_peer.py" --torrent "$torrent" \
        --save "$dir" --listen "$(netlab_ip "$i"):$port" "$@"
}

stock_aria2() {
    local i=$1 log=$2 torrent=$3 dir=$4 port=$5 mode=${6:-leech}
    local extra=(--seed-time=0)
    [[ "$mode" == seed ]] && extra=(--seed-ratio=0.0 --bt-seed-unverified=true --check-integrity=false)
    mkdir -p "$dir"
    netlab_spawn "$i" "$log" aria2c --dir="$dir" --listen-port="$port" \
        --interface="$(netlab_ip "$i")" --enable-dht=false --enable-dht6=false \
        --bt-enable-lpd=false --enable-peer-exchange=false --file-allocation=none \
        --bt-detach-seed-only=false --console-log-level=notice --summary-interval=5 \
        --bt-tracker-connect-timeout=5 --bt-tracker-timeout=5 --bt-stop-timeout=90 \
        --max-overall-upload-limit=0 --disable-ipv6=true --auto-save-interval=0 \
        "${extra[@]}" "$torrent"
}

stock_transmission() {
    local i=$1 log=$2 torrent=$3 dir=$4 port=$5 done=$6 conf
    conf="$dir.tr-config"
    mkdir -p "$dir" "$conf"
    cat >"$conf/settings.json" <<EOF
{
    "bind-address-ipv4": "$(netlab_ip "$i")",
    "dht-enabled": false,
    "lpd-enabled": false,
    "utp-enabled": false,
    "pex-enabled": false,
    "port-forwarding-enabled": false,
    "encryption": 0,
    "peer-port": $port,
    "speed-limit-up-enabled": false,
    "speed-limit-down-enabled": false,
    "ratio-limit-enabled": false,
    "message-level": 2
}
EOF
    # transmission runs the -f script directly (no shell): give it an executable file
    printf '#!/bin/sh\ntouch "%s"\n' "$done" >"$conf/on-done.sh"
    chmod 755 "$conf/on-done.sh"
    netlab_spawn "$i" "$log" transmission-cli -g "$conf" -w "$dir" -p "$port" -et \
        -f "$conf/on-done.sh" "$torrent"
}

stock_ctorrent() {
    local i=$1 log=$2 torrent=$3 dir=$4 port=$5 done=$6 mode=${7:-leech} extra=()
    [[ "$mode" == seed ]] && extra=(-f)
    mkdir -p "$(dirname "$dir")"
    # -s: the torrent's root (multi-file) or the file itself; -b: a private bitfield file
    netlab_spawn "$i" "$log" ctorrent -e 1 -i "$(netlab_ip "$i")" -p "$port" -s "$dir" \
        -b "$dir.bf" -X "touch $done" -M 20 "${extra[@]}" "$torrent"
}

stock_materialize_pads() {
    local torrent=$1 dir=$2 path len
    "${STOCK_BITLIB:-${BITLIB:-build/bitlib}}" inspect --json "$torrent" |
        jq -r '.files[] | select(.attributes | test("p")) | "\(.length) \(.path)"' |
        while read -r len path; do
            mkdir -p "$dir/$(dirname "$path")"
            head -c "$len" /dev/zero >"$dir/$path"
        done
}

stock_wait_file() {
    local f=$1 secs=$2 deadline
    deadline=$(( SECONDS + secs ))
    until [[ -e "$f" ]]; do
        (( SECONDS < deadline )) || return 1
        sleep 0.2
    done
}

stock_wait_pid() {
    local pid=$1 secs=$2 deadline
    deadline=$(( SECONDS + secs ))
    while [[ -e /proc/$pid ]] && ! grep -q '^[^)]*) [ZX]' "/proc/$pid/stat" 2>/dev/null; do
        (( SECONDS < deadline )) || return 1
        sleep 0.2
    done
}

stock_same_tree() {
    local src=$1 dst=$2 n bad
    n=0
    bad=0
    while IFS= read -r -d '' f; do
        n=$((n + 1))
        if [[ ! -f "$dst/$f" ]] || [[ "$(sha256sum <"$src/$f")" != "$(sha256sum <"$dst/$f")" ]]; then
            [[ $bad -lt 5 ]] && _stock_log "differs or missing: $dst/$f"
            bad=$((bad + 1))
        fi
    done < <(cd "$src" && find . -type f -not -path './.pad/*' -printf '%P\0')
    if (( bad )); then
        echo "$bad of $n files differ under $dst"
        return 1
    fi
    echo "all $n files identical (SHA-256) under $dst"
}
