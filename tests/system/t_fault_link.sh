#!/usr/bin/env bash
# t_fault_link: a node's link is cut for 10 s in the middle of a transfer and restored
# (issue 13, part 4).
#
# Node 0 seeds 6 MiB over 10 Mbit/s links.  Node 1 mounts it in bulk mode and reads every
# file through the mount; node 2 runs `bitlib fetch`.  At about 40% both links go down
# (netlab_cut) for 10 s: nothing is lost meanwhile (pieces_had does not drop) and the blocked
# reader waits instead of failing (read timeout 60 s).  After netlab_heal both resume and
# finish without fetching again what they had verified: bytes_downloaded is the set's size
# exactly, bytes_wasted (duplicates) stays under 10% of it, and the seeder uploaded less
# than twice the set.  The reader gets the original bytes (SHA-256), the fetched copy is
# identical, no piece fails its hash.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum
ml_init fault_link

mkdir -p "$ML/set"
for i in 1 2 3 4 5 6; do head -c $((1 << 20)) /dev/urandom >"$ML/set/lib$i.so"; done
(cd "$ML/set" && sha256sum lib*.so) >"$ML/sums"
"$BITLIB" create -q -o "$ML/set.torrent" "$ML/set"
total=$((6 << 20))
pieces=$("$BITLIB" inspect --json "$ML/set.torrent" | jq -r .pieces)
netlab_up 3 10
ml_seed 0 "$ML/set.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"

ml_mount 1 "$ML/set.torrent" "$ML/mnt1" --peer "$peer" --mode bulk
(rc=0; cd "$ML/mnt1" && timeout 50 sha256sum lib*.so >"$ML/read-1" 2>"$ML/read-1.err" || rc=$?
 echo "$rc" >"$ML/read-1.rc") &
reader=$!
cl_track_pid "$reader"
netlab_spawn 2 "$ML/fetch-2.log" "$BITLIB" fetch "$ML/set.torrent" "$ML/fetch2" --peer "$peer" \
    --no-tracker --json -q --stall-timeout 40 >/dev/null
fetch_pid=$NETLAB_LAST_PID
fetch_had() { "$BITLIB" status "$ML/fetch2" --json 2>/dev/null | jq -r '.pieces_had // 0'; }
for _ in $(seq 200); do
    (( $(ml_num "$ML/mnt1" .pieces_had) >= pieces * 4 / 10 )) && break
    sleep 0.05
done
had1=$(ml_num "$ML/mnt1" .pieces_had) had2=$(fetch_had)
echo "== cut both links for 10 s at $had1 and $had2 of $pieces pieces"
netlab_cut 1
netlab_cut 2
sleep 10
cut1=$(ml_num "$ML/mnt1" .pieces_had) cut2=$(fetch_had)
echo "   after 10 s cut: $cut1 and $cut2 pieces"
((cut1 >= had1 && cut2 >= had2)) || ml_fail "pieces were lost during the cut"
[[ -e "$ML/read-1.rc" ]] && ml_fail "the reader ended during the cut: $(cat "$ML/read-1.err")"
netlab_heal 1
netlab_heal 2
echo "== healed"
wait "$reader" || true
for _ in $(seq 400); do netlab_alive "$fetch_pid" || break; sleep 0.1; done
wait "$fetch_pid" || ml_fail "the fetch failed: $(tail -3 "$ML/fetch-2.log")"
[[ $(cat "$ML/read-1.rc") == 0 ]] || ml_fail "the reader failed: $(cat "$ML/read-1.err")"
cmp -s "$ML/sums" "$ML/read-1" || ml_fail "the reader read different bytes"
(cd "$ML/fetch2" && sha256sum lib*.so) | cmp -s "$ML/sums" - || ml_fail "the fetched copy differs"
st1=$(ml_status "$ML/mnt1")
st2=$(grep '^{' "$ML/fetch-2.log" | tail -1)
for st in "$st1" "$st2"; do
    echo "   $(jq -c '{pieces_had, bytes_downloaded, bytes_wasted, hash_failures}' <<<"$st")"
    jq -e ".pieces_had == $pieces and .bytes_downloaded == $total and .hash_failures == 0 and
           .bytes_wasted < $total / 10" <<<"$st" >/dev/null || ml_fail "counters: something was fetched twice"
done
up=$("$BITLIB" status "$ML/set" --json | jq -r .bytes_uploaded)
echo "   the seeder uploaded $up bytes for two nodes of $total"
((up < 2 * total + total / 10)) || ml_fail "the seeder sent $up bytes: verified pieces fetched again"
ml_umount "$ML/mnt1"
echo "PASS"
