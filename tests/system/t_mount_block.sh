#!/usr/bin/env bash
# t_mount_block: in block mode only the pieces that reads touch move.
#
# A 256 MiB file (random bytes) is seeded by node 0 and mounted with --mode block on nodes
# 1 and 2 of a 4-node cluster.  Reading 4 KiB at arbitrary offsets (unaligned, and one that
# straddles a piece boundary) must fetch exactly the pieces covering those bytes: checked
# with pieces_had and bytes_downloaded from bitlib status --json, and the bytes compared
# with the original.  Nothing else is wanted: the queue stays empty.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require dd sha256sum
ml_init mount_block

echo "== a 256 MiB file"
mkdir -p "$ML/set"
head -c $((256 << 20)) /dev/urandom >"$ML/set/big.dat"
"$BITLIB" create -q -o "$ML/big.torrent" "$ML/set"
plen=$("$BITLIB" inspect --json "$ML/big.torrent" | jq -r .piece_length)
echo "   piece length $plen"

netlab_up 4 1000
ml_seed 0 "$ML/big.torrent" "$ML/set"
peer="$(netlab_ip 0):6881"
ml_mount 1 "$ML/big.torrent" "$ML/mnt1" --peer "$peer" --mode block
ml_mount 2 "$ML/big.torrent" "$ML/mnt2" --peer "$peer" --mode block
ml_wait "$ML/mnt1" '.num_peers >= 1' 20
[[ $(ml_num "$ML/mnt1" .pieces_had) == 0 ]] || ml_fail "block mode fetched at mount"

# read LEN bytes at OFF on mount M and compare; check the pieces and bytes it moved
check_read() {
    local m=$1 off=$2 len=$3 h0 b0 h1 b1 want got first last n
    h0=$(ml_num "$m" .pieces_had) b0=$(ml_num "$m" .bytes_downloaded)
    got=$(timeout 60 dd if="$m/big.dat" bs="$len" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
    want=$(dd if="$ML/set/big.dat" bs="$len" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
    [[ "$got" == "$want" ]] || ml_fail "bytes at $off differ"
    h1=$(ml_num "$m" .pieces_had) b1=$(ml_num "$m" .bytes_downloaded)
    first=$((off / plen)) last=$(((off + len - 1) / plen)) n=$((last - first + 1))
    echo "   $len bytes at $off: pieces $first..$last; had $h0 -> $h1, downloaded $b0 -> $b1"
    (( h1 - h0 == n )) || ml_fail "expected exactly $n new pieces, got $((h1 - h0))"
    (( b1 - b0 == n * plen )) || ml_fail "expected $((n * plen)) bytes, got $((b1 - b0))"
}

echo "== 4 KiB reads at arbitrary offsets (node 1)"
check_read "$ML/mnt1" 123456789 4096
check_read "$ML/mnt1" 200000001 4096
check_read "$ML/mnt1" $((1000 * plen - 2048)) 4096   # straddles a piece boundary
echo "== the same on node 2, with node 1 as a possible source"
"$BITLIB" status "$ML/mnt2" --json | jq -c '{num_peers}'
check_read "$ML/mnt2" 123456789 4096
check_read "$ML/mnt2" 7 4096
st=$(ml_status "$ML/mnt1")
jq -e '.queue.deadline == 0 and .queue.opened == 0 and .queue.prefetch == 0 and .queue.bulk == 0 and .pieces_wanted == 0' \
    <<<"$st" >/dev/null || ml_fail "something else is queued: $(jq -c .queue <<<"$st")"
total=$(jq -r .pieces_had <<<"$st")
echo "   node 1 holds $total of $(jq -r .pieces_total <<<"$st") pieces"
ml_umount "$ML/mnt1"
ml_umount "$ML/mnt2"
echo "PASS"
