#!/usr/bin/env bash
# t_mount_metadata: metadata never touches the network, and the kernel caches it.
#
# 200 small shared libraries spread over 20 directories; node 0 seeds, node 1 mounts in
# file mode (nothing moves until a file is opened).  The loader's LD_LIBRARY_PATH search
# for all 200 (each name tried in the 20 directories in order until found, ~2000 lookups,
# most of them misses), plus ls -lR, stat and readlink of everything, must move zero bytes:
# bytes_downloaded and node 1's interface byte counters are unchanged.  A second search
# costs no FUSE lookups at all (positive and negative entries cached by the kernel).  Then
# a program that needs all 200 libraries runs with that 20-directory LD_LIBRARY_PATH.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require gcc
ml_init mount_metadata

echo "== 200 libraries in 20 directories"
set_dir=$ML/set
for d in $(seq -w 0 19); do mkdir -p "$set_dir/d$d"; done
printf 'int blfn(void) { return 7; }\n' >"$ML/f.c"
gcc -c -fPIC -O1 -o "$ML/f.o" "$ML/f.c"
libs=()
for i in $(seq -w 0 199); do
    d=$(printf '%02d' $((10#$i % 20)))
    gcc -shared -o "$set_dir/d$d/libm$i.so" -Wl,-soname,libm$i.so "$ML/f.o" &
    libs+=("-lm$i")
    (( 10#$i % 8 == 7 )) && wait
done
wait
ln -s libm000.so "$set_dir/d00/libm000.so.link"
ldpath=$(for d in $(seq -w 0 19); do printf '%s:' "@/d$d"; done)
ldpath=${ldpath%:}
printf 'int blfn(void);\n#include <stdio.h>\nint main(void) { printf("blfn %%d\\n", blfn()); return 0; }\n' >"$ML/main.c"
gcc -O1 -o "$ML/main200" "$ML/main.c" -Wl,--no-as-needed $(for d in $(seq -w 0 19); do printf -- '-L%s ' "$set_dir/d$d"; done) "${libs[@]}"
"$BITLIB" create -q -o "$ML/set.torrent" "$set_dir"

netlab_up 4 1000
ml_seed 0 "$ML/set.torrent" "$set_dir"
m=$ML/mnt1
ml_mount 1 "$ML/set.torrent" "$m" --peer "$(netlab_ip 0):6881" --mode file
ml_wait "$m" '.num_peers >= 1' 20
sleep 1   # let the connection's opening messages pass before counting bytes

search() {   # emulate the loader: each library tried in every directory until found
    local i d found=0
    for i in $(seq -w 0 199); do
        for d in $(seq -w 0 19); do
            if [[ -e "$m/d$d/libm$i.so" ]]; then found=$((found + 1)); break; fi
        done
    done
    echo "$found"
}

# IP bytes in and out of node 1 (the kernel's own counters in its namespace): ARP, which the
# kernel may exchange at any moment to revalidate a neighbour, is not IP and does not count.
ip_octets() {
    netlab_exec 1 nstat -asz IpExtInOctets IpExtOutOctets |
        awk '$1 == "IpExtInOctets" { i = $2 } $1 == "IpExtOutOctets" { o = $2 } END { print i " " o }'
}

echo "== metadata only: search, ls -lR, stat, readlink"
b0=$(ml_num "$m" .bytes_downloaded) rx0=$(netlab_rx_bytes 1) tx0=$(netlab_tx_bytes 1)
read -r ipin0 ipout0 < <(ip_octets)
l0=$(ml_num "$m" .fuse.lookups)
found=$(search)
[[ "$found" == 200 ]] || ml_fail "search found $found of 200 libraries"
ls -lR "$m" >/dev/null
find "$m" -type f -exec stat -c '%s %a %Y' {} + >/dev/null
[[ $(readlink "$m/d00/libm000.so.link") == libm000.so ]] || ml_fail "readlink"
b1=$(ml_num "$m" .bytes_downloaded) rx1=$(netlab_rx_bytes 1) tx1=$(netlab_tx_bytes 1)
read -r ipin1 ipout1 < <(ip_octets)
l1=$(ml_num "$m" .fuse.lookups) neg=$(ml_num "$m" .fuse.lookups_negative)
echo "   FUSE lookups $((l1 - l0)) ($neg negative); payload bytes $((b1 - b0)); IP bytes in $((ipin1 - ipin0)), out $((ipout1 - ipout0)) (eth0 rx $((rx1 - rx0)) B, tx $((tx1 - tx0)) B)"
(( b1 == b0 )) || ml_fail "metadata moved $((b1 - b0)) payload bytes"
(( ipin1 - ipin0 == 0 && ipout1 - ipout0 == 0 )) || ml_fail "the node sent or received IP traffic during metadata operations"
(( neg > 1000 )) || ml_fail "expected most lookups to be misses"

echo "== the second search is answered by the kernel's caches"
found=$(search)
l2=$(ml_num "$m" .fuse.lookups) g2=$(ml_num "$m" .fuse.getattrs)
echo "   FUSE lookups during the second search: $((l2 - l1))"
(( l2 == l1 )) || ml_fail "the second search cost $((l2 - l1)) FUSE lookups"

echo "== a program needing all 200 libraries runs with the 20-directory LD_LIBRARY_PATH"
out=$(timeout 60 env LD_LIBRARY_PATH="${ldpath//@/$m}" "$ML/main200")
[[ "$out" == "blfn 7" ]] || ml_fail "main200 printed '$out'"
echo "   $(ml_status "$m" | jq -c '{pieces_had, pieces_total, bytes_downloaded, opens: .fuse.opens}')"
ml_umount "$m"
echo "PASS"
