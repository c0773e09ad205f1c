#!/usr/bin/env bash
# t_mount_elfahead: in file mode, an opened ELF object brings its DT_NEEDED closure from the
# set before the loader asks, and nothing else (issue 15, item 2).
#
# Node 0 seeds mklibset's set (bin/app -> alpha -> beta -> gamma -> delta, through RUNPATH
# $ORIGIN, RPATH inherited by gamma, a symlinked SONAME; libunused.so needed by nothing)
# plus a 2 MiB library nobody needs, in 16 KiB pieces.
#   1. Node 1 mounts in file mode and reads 64 bytes of bin/app (no loader runs): the
#      daemon examines app, then each library as it arrives; alpha, beta, gamma and delta
#      become local without being opened (elf_readahead_files 4, elf_examined 5) and the
#      unused libraries stay remote (downloaded bytes well under the 2 MiB one).  Running
#      app through the mount then works and downloads nothing more.
#   2. Node 2 mounts with --no-elf-readahead: the same read brings app only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/netlab.sh"
. "$HERE/lib/mountlab.sh"
ml_require gcc
ml_init mount_elfahead

set_dir=$ML/set
"$HERE/lib/mklibset.sh" "$set_dir" >/dev/null
rm -rf "$set_dir/src"
head -c $((2 << 20)) /dev/urandom >"$set_dir/lib/libhuge.so"
"$BITLIB" create -q -p 16K -o "$ML/set.torrent" "$set_dir"
size_of() { stat -c %s "$set_dir/$1"; }
closure=$(($(size_of bin/app) + $(size_of lib/libalpha.so.1.0.0) + $(size_of lib/libbeta.so) +
    $(size_of lib/sub/libgamma.so) + $(size_of lib/sub/libdelta.so)))

netlab_up 3 100
ml_seed 0 "$ML/set.torrent" "$set_dir"
peer="$(netlab_ip 0):6881"

echo "== 1. file mode: reading the head of bin/app brings its closure"
m=$ML/mnt1
ml_mount 1 "$ML/set.torrent" "$m" --peer "$peer" --mode file --read-timeout 20
[[ $(ml_num "$m" .elf_readahead) == true ]] || ml_fail "elf_readahead is not on by default"
head -c 64 "$m/bin/app" >/dev/null
ml_wait "$m" '.elf_readahead_files == 4 and .elf_examined == 5 and .queue.prefetch == 0 and
    .queue.opened == 0' 30
got=$(ml_num "$m" .bytes_downloaded)
opens=$(ml_num "$m" .fuse.opens)
echo "   examined $(ml_num "$m" .elf_examined) objects, read ahead $(ml_num "$m" .elf_readahead_files) files; downloaded $got bytes (closure $closure bytes, $opens opens)"
((got >= closure)) || ml_fail "downloaded $got bytes, less than the closure's $closure"
((got < closure + 16 * 16384)) || ml_fail "downloaded $got bytes: more than the closure (+16 pieces)"
((opens == 1)) || ml_fail "$opens opens: the libraries were read ahead, nobody opened them"
out=$("$m/bin/app") || ml_fail "app failed through the mount"
[[ "$out" == "libset ok: alpha beta gamma delta" ]] || ml_fail "app printed: $out"
after=$(ml_num "$m" .bytes_downloaded)
((after == got)) || ml_fail "running app downloaded $((after - got)) more bytes"
waited=$(ml_num "$m" .fuse.reads_waited)
echo "   app: $out; nothing more downloaded ($waited reads waited)"

echo "== 2. --no-elf-readahead: the same read brings app only"
m2=$ML/mnt2
ml_mount 2 "$ML/set.torrent" "$m2" --peer "$peer" --mode file --read-timeout 20 --no-elf-readahead
[[ $(ml_num "$m2" .elf_readahead) == false ]] || ml_fail "elf_readahead still on"
head -c 64 "$m2/bin/app" >/dev/null
ml_wait "$m2" '.queue.opened == 0 and .queue.deadline == 0' 30
sleep 1
got2=$(ml_num "$m2" .bytes_downloaded)
echo "   downloaded $got2 bytes (app is $(size_of bin/app))"
((got2 < $(size_of bin/app) + 2 * 16384)) || ml_fail "downloaded $got2 bytes without read-ahead"
[[ $(ml_num "$m2" .elf_readahead_files) == 0 ]] || ml_fail "files were read ahead"
ml_umount "$m"
ml_umount "$m2"
echo "PASS"
