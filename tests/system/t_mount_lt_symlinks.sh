#!/usr/bin/env bash
# t_mount_lt_symlinks: symlinks in a torrent made by python3-libtorrent mount as they were.
#
# libtorrent writes BEP 47 "symlink path" as the link's own text, relative to the link's
# directory ("libz.so.1", "../lib/libz.so.1"); BEP 47 says relative to the torrent's root,
# which bitlib follows.  bitlib reads both where the target resolves inside the set only one
# way (issue 16 item 6; before, such a torrent was refused: '..' in a symlink path).  The
# set: links beside their target, into another directory, to a directory, at the top level.
# Checks `bitlib inspect --json`, then a bitlib seed of the original directory and a `bulk`
# mount: every readlink equals the original's, and reading through each link gives the
# target's bytes.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require sha256sum readlink
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || { echo "SKIP: python3-libtorrent missing"; exit 77; }
ml_init mount_lt_symlinks

echo "== a set with symlinks, described by libtorrent"
S=$ML/set
mkdir -p "$S/lib/python" "$S/bin" "$S/share/data"
head -c 70000 /dev/urandom >"$S/lib/libz.so.1.2.13"
head -c 5000 /dev/urandom >"$S/lib/python/mod.so"
head -c 3000 /dev/urandom >"$S/bin/tool"
head -c 900 /dev/urandom >"$S/share/data/table"
ln -s libz.so.1.2.13 "$S/lib/libz.so.1"          # beside its target
ln -s libz.so.1 "$S/lib/libz.so"                 # a link to a link
ln -s ../lib/libz.so.1.2.13 "$S/bin/libz"        # into another directory
ln -s ../share/data "$S/lib/data"                # a directory
ln -s python/mod.so "$S/lib/mod.so"              # down into a subdirectory
ln -s lib/libz.so.1 "$S/libz-top"                # top level: both readings agree
/usr/bin/python3 - "$ML" <<'EOF'
import os, sys
import libtorrent as lt
work = sys.argv[1]
fs = lt.file_storage()
lt.add_files(fs, os.path.join(work, "set"), flags=lt.create_torrent.symlinks)
ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.symlinks | lt.create_torrent.v1_only)
ct.add_tracker("http://127.0.0.1:1/announce")
lt.set_piece_hashes(ct, work)
open(os.path.join(work, "lt.torrent"), "wb").write(lt.bencode(ct.generate()))
n = 0
for f in lt.bdecode(open(os.path.join(work, "lt.torrent"), "rb").read())[b"info"][b"files"]:
    if b"symlink path" in f:
        n += 1
        print("   libtorrent: %s -> symlink path %s" % (b"/".join(f[b"path"]).decode(),
                                                      b"/".join(f[b"symlink path"]).decode()))
assert n == 6, n
EOF

echo "== bitlib inspect reads every link as on disk"
"$BITLIB" inspect --json "$ML/lt.torrent" >"$ML/lt.json" || ml_fail "bitlib inspect refused the libtorrent torrent"
bad=0
while read -r path target; do
    want=$(readlink "$S/$path")
    if [[ "$target" != "$want" ]]; then
        echo "   $path: '$target', on disk '$want'"; bad=$((bad + 1))
    fi
done < <(jq -r '.symlinks[] | "\(.path) \(.target)"' "$ML/lt.json")
(( $(jq '.symlinks | length' "$ML/lt.json") == 6 )) || ml_fail "not 6 symlinks in inspect"
(( bad == 0 )) || ml_fail "$bad symlink target(s) read wrongly"

echo "== seeded by bitlib, mounted on another node"
netlab_up 2 1000
ml_seed 0 "$ML/lt.torrent" "$S"
ml_mount 1 "$ML/lt.torrent" "$ML/mnt" --mode bulk --peer "$(netlab_ip 0):6881"
ml_wait "$ML/mnt" '.pieces_had == .pieces_total' 30
for l in lib/libz.so.1 lib/libz.so bin/libz lib/data lib/mod.so libz-top; do
    [[ -L "$ML/mnt/$l" ]] || ml_fail "$l is not a symlink in the mount"
    [[ "$(readlink "$ML/mnt/$l")" == "$(readlink "$S/$l")" ]] ||
        ml_fail "$l -> $(readlink "$ML/mnt/$l"), on disk -> $(readlink "$S/$l")"
done
for pair in lib/libz.so:lib/libz.so.1.2.13 bin/libz:lib/libz.so.1.2.13 lib/mod.so:lib/python/mod.so \
            lib/data/table:share/data/table libz-top:lib/libz.so.1.2.13; do
    l=${pair%%:*} t=${pair#*:}
    [[ "$(sha256sum <"$ML/mnt/$l")" == "$(sha256sum <"$S/$t")" ]] || ml_fail "reading through $l"
done
echo "   6 links: same targets as on disk, reads through them give the right bytes"
ml_umount "$ML/mnt"
echo "PASS"
