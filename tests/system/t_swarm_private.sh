#!/usr/bin/env bash
# t_swarm_private: a private swarm (--secret-file) on a namespace cluster.
#   node 0: bitlib tracker --secret-file and bitlib seed --secret-file
#   node 1: bitlib fetch with the secret (through the tracker) gets the set
#   node 2: bitlib mount with the secret reads a file through the mount
#   node 3: a node with the wrong secret and one with none: no data, and one line each
#           that says which check failed (tracker passkey, peer proof)
#   node 4: a scripted peer (lib/private_peer.py) speaking the check itself: the right
#           proof is admitted; a wrong proof, a replayed recording of a good session and
#           piece messages before the proof are refused; a stock client (libtorrent)
#           is refused, and admitted by a seeder with --allow-stock
# plus the mistakes: --allow-stock without --secret-file, a secret others can read, one
# too short; each one line, exit 2.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETLAB_PREFIX=${NETLAB_PREFIX:-pv}
. "$HERE/lib/swarmtest.sh"
swarm_test_init t_swarm_private fusermount3 od
PORT=6881 TPORT=6969

netlab_up 5 200
"$STOCK_PY" "$HERE/lib/gen_libset.py" "$TMP/set" --files 30 --total-mib 6 --seed 5 >/dev/null
URL="http://$(netlab_ip 0):$TPORT/announce"
"$BITLIB" create -q -o "$TMP/set.torrent" --tracker "$URL" --tracker "udp://$(netlab_ip 0):$TPORT" "$TMP/set"
IH=$(stock_infohash "$TMP/set.torrent")
for k in good other; do
    head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" >"$TMP/$k.key"
    chmod 600 "$TMP/$k.key"
done

echo "== mistakes"
mistake() {
    local want=$1; shift
    set +e; "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?; set -e
    ((rc == 2)) || fail "$*: exit $rc, expected 2 ($(cat "$TMP/err"))"
    (( $(wc -l <"$TMP/err") == 1 )) && grep -q -- "$want" "$TMP/err" || fail "$*: said '$(cat "$TMP/err")'"
    echo "   $(cat "$TMP/err")"
}
mistake "needs --secret-file" "$BITLIB" fetch --allow-stock "$TMP/set.torrent" "$TMP/x"
mistake "needs --secret-file" "$BITLIB" run --allow-stock "$TMP/set.torrent" -- true
cp "$TMP/good.key" "$TMP/shared.key"; chmod 644 "$TMP/shared.key"
mistake "chmod 600" "$BITLIB" seed --secret-file "$TMP/shared.key" "$TMP/set.torrent" "$TMP/set"
echo short >"$TMP/short.key"; chmod 600 "$TMP/short.key"
mistake "16 to 1024" "$BITLIB" tracker --secret-file "$TMP/short.key"
mistake "No such file" "$BITLIB" mount --secret-file "$TMP/none.key" "$TMP/set.torrent" "$TMP"

echo "== tracker and seeder with the job secret"
netlab_spawn 0 "$TMP/tracker.log" "$BITLIB" tracker --listen "$(netlab_ip 0):$TPORT" \
    --interval 5 --secret-file "$TMP/good.key" >/dev/null
netlab_wait_listen 0 $TPORT 30
netlab_spawn 0 "$TMP/seed.log" "$BITLIB" seed --listen "$(netlab_ip 0):$PORT" \
    --secret-file "$TMP/good.key" "$TMP/set.torrent" "$TMP/set" >/dev/null
netlab_wait_listen 0 $PORT 30
grep -q "private: announces need the job secret's passkey" "$TMP/tracker.log" || fail "tracker start line"

echo "== a node with the secret fetches through the tracker; a mount reads"
netlab_exec 1 timeout 60 "$BITLIB" fetch -q --secret-file "$TMP/good.key" "$TMP/set.torrent" "$TMP/n1" ||
    fail "fetch with the secret"
stock_same_tree "$TMP/set" "$TMP/n1" || fail "node 1's copy differs"
mkdir -p "$TMP/mp"
cl_track_mount "$TMP/mp"
netlab_exec 2 timeout 60 "$BITLIB" mount --secret-file "$TMP/good.key" --cache "$TMP/cache2" \
    --log "$TMP/mount2.log" --socket "$TMP/mount2.sock" "$TMP/set.torrent" "$TMP/mp"
f=$(cd "$TMP/set" && find . -type f | sort | head -1)
cmp "$TMP/set/$f" "$TMP/mp/$f" || fail "read through the private mount differs"
kill -TERM "$("$BITLIB" status --socket "$TMP/mount2.sock" --json | jq -r .pid)"
for _ in $(seq 50); do grep -q " $TMP/mp fuse" /proc/mounts || break; sleep 0.1; done
echo "   fetch: same tree; mount: $f read back"

echo "== the wrong secret, and none: no data, one line says which check failed"
set +e
netlab_exec 3 timeout 30 "$BITLIB" fetch --secret-file "$TMP/other.key" --peer "$(netlab_ip 0):$PORT" \
    --stall-timeout 6 "$TMP/set.torrent" "$TMP/n3" 2>"$TMP/wrong.err"; rc=$?
netlab_exec 3 timeout 30 "$BITLIB" fetch --peer "$(netlab_ip 0):$PORT" \
    --stall-timeout 6 "$TMP/set.torrent" "$TMP/n3b" 2>"$TMP/none.err"; rc2=$?
set -e
((rc == 1 && rc2 == 1)) || fail "fetches without the right secret exited $rc, $rc2"
grep -q "tracker refused: wrong passkey for this swarm" "$TMP/wrong.err" || fail "no passkey line: $(cat "$TMP/wrong.err")"
grep -qE "failed the job-secret check|refused this node's proof of the job secret" "$TMP/wrong.err" ||
    fail "no proof line: $(cat "$TMP/wrong.err")"
grep -q "tracker refused: this tracker serves private swarms only" "$TMP/none.err" || fail "no tracker line: $(cat "$TMP/none.err")"
grep -q "is in a private swarm (it asks for proof of a job secret)" "$TMP/none.err" || fail "no peer line: $(cat "$TMP/none.err")"
for d in n3 n3b; do
    got=$(find "$TMP/$d" -type f -size +0 2>/dev/null | wc -l)
    ((got == 0)) || fail "$d got data without the secret ($got files)"
done
echo "   wrong secret: $(grep -m1 -o 'tracker refused: wrong passkey[^;]*' "$TMP/wrong.err")"
echo "   no secret:    $(grep -m1 -o 'is in a private swarm[^(]*' "$TMP/none.err")"

echo "== the check itself: proof, wrong proof, replay, messages before the proof"
for m in prove wrong replay early; do
    netlab_exec 4 "$STOCK_PY" "$HERE/lib/private_peer.py" $m --target "$(netlab_ip 0):$PORT" \
        --info-hash "$IH" --secret-file "$TMP/good.key" --timeout 8 >"$TMP/pp.out" ||
        fail "private_peer $m: $(cat "$TMP/pp.out")"
    echo "   $(cat "$TMP/pp.out")"
done
grep -q "refused: failed the job-secret check" "$TMP/seed.log" || fail "the seeder did not log the refusal"

echo "== a stock client: refused, then admitted by --allow-stock"
if "$STOCK_PY" -c 'import libtorrent' 2>/dev/null; then
    stock_lt 4 "$TMP/lt.log" "$TMP/set.torrent" "$TMP/lt" 7000 --peer "$(netlab_ip 0):$PORT" --timeout 6 >/dev/null
    stock_wait_pid "$NETLAB_LAST_PID" 20 || true
    grep -q "^complete" "$TMP/lt.log" && fail "libtorrent completed in a private swarm"
    grep -q "refused: a stock client" "$TMP/seed.log" || fail "the seeder did not say it refused a stock client"
    netlab_spawn 0 "$TMP/seed-stock.log" "$BITLIB" seed --listen "$(netlab_ip 0):6882" --no-tracker \
        --secret-file "$TMP/good.key" --allow-stock "$TMP/set.torrent" "$TMP/set" >/dev/null
    netlab_wait_listen 0 6882 30
    stock_lt 4 "$TMP/lt2.log" "$TMP/set.torrent" "$TMP/lt2" 7001 --peer "$(netlab_ip 0):6882" --timeout 40 >/dev/null
    stock_wait_pid "$NETLAB_LAST_PID" 45 || fail "libtorrent did not finish with --allow-stock"
    grep -q "^complete" "$TMP/lt2.log" || fail "libtorrent did not complete with --allow-stock"
    grep -q "admitted to the private swarm (--allow-stock)" "$TMP/seed-stock.log" || fail "no admission line"
    stock_same_tree "$TMP/set" "$TMP/lt2/set" || fail "libtorrent's copy differs"
    echo "   refused without --allow-stock; with it libtorrent completed"
else
    echo "   (python3-libtorrent missing: stock part not run)"
fi
echo PASS
