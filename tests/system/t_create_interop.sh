#!/usr/bin/env bash
# t_create_interop: description files made by `bitlib create` read the same in
# stock tools, and stock torrents read the same in `bitlib inspect`.
#
#  1. Build a file set with nested dirs, an empty dir, executables, symlinks
#     (libfoo.so -> libfoo.so.1), an empty file, a name with a space and one
#     with non-ASCII UTF-8, and files of awkward sizes (1 byte, exactly one
#     piece, one piece + 1, one piece - 1, several pieces + a bit).
#  2. `bitlib create` it; check `bitlib inspect --json` against the file system
#     (sizes, modes, mtimes, symlink targets, directories) and the layout rules
#     (offsets contiguous, every non-empty non-pad file starts on a piece
#     boundary, piece count covers the total).
#  3. transmission-show and python3-libtorrent report the same info-hash, the
#     same files and sizes and the same total.
#  4. libtorrent re-checks the data against the piece hashes: 100%; after one
#     byte is flipped, it is not (so the check can fail).
#  5. --private sets the flag every tool sees and changes the info-hash.
#  6. Torrents made by mktorrent (multi- and single-file) give the same
#     info-hash in `bitlib inspect --json` as in transmission-show.
#
# Only loopback is touched: libtorrent listens on 127.0.0.1 with DHT, LSD,
# UPnP and NAT-PMP off, and the tracker URL points at a closed loopback port.
set -euo pipefail

BITLIB=${BITLIB:-build/bitlib}
PY=/usr/bin/python3
PL=16384
TRACKER=http://127.0.0.1:1/announce

command -v transmission-show >/dev/null || { echo "SKIP: transmission-show not installed"; exit 77; }
command -v mktorrent >/dev/null || { echo "SKIP: mktorrent not installed"; exit 77; }
$PY -c 'import libtorrent' 2>/dev/null || { echo "SKIP: python3-libtorrent not installed"; exit 77; }
[ -x "$BITLIB" ] || { echo "FAIL: $BITLIB is not built"; exit 1; }
BITLIB=$(realpath "$BITLIB")

. "$(dirname "${BASH_SOURCE[0]}")/lib/cleanup.sh"
cl_init
WORK=$(mktemp -d /tmp/t_create_interop.XXXXXX)
cl_track_dir "$WORK"

say() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Run bitlib; a non-zero exit or a sanitizer report fails the test.
bl() {
    local rc=0
    "$BITLIB" "$@" 2>"$WORK/bl.err" || rc=$?
    if [ $rc -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$WORK/bl.err"; then
        cat "$WORK/bl.err" >&2
        fail "bitlib $* exited $rc"
    fi
}

# ---- 1. the file set -------------------------------------------------------
say "building the file set"
D=$WORK/data/set
mkdir -p "$D"/{bin,lib/python3/site,share/doc,emptydir,a/b/c/d}
head -c 3000 /dev/urandom >"$D/bin/tool"
printf '#!/bin/sh\necho hi\n' >"$D/bin/run.sh"
chmod 0755 "$D/bin/tool" "$D/bin/run.sh"
head -c $PL /dev/urandom >"$D/lib/libfoo.so.1"            # exactly one piece
head -c $((PL + 1)) /dev/urandom >"$D/lib/libbar.so.2.0"  # one piece + 1
chmod 0755 "$D/lib/libfoo.so.1" "$D/lib/libbar.so.2.0"
ln -s libfoo.so.1 "$D/lib/libfoo.so"
ln -s libbar.so.2.0 "$D/lib/libbar.so"
ln -s ../lib/libfoo.so.1 "$D/bin/libfoo-link"             # target outside its dir
printf 'x' >"$D/lib/python3/site/mod.py"                  # 1 byte
head -c $((3 * PL - 1)) /dev/urandom >"$D/lib/python3/site/data.bin"
printf 'read me\n' >"$D/share/doc/read me.txt"
printf 'caf\xc3\xa9\n' >"$D/share/doc/na$(printf '\xc3\xaf')ve.txt"
: >"$D/share/empty.dat"                                    # empty file
head -c $((5 * PL + 123)) /dev/urandom >"$D/share/big.bin"
printf 'deep\n' >"$D/a/b/c/d/deep.txt"
chmod 0600 "$D/share/doc/read me.txt"                       # odd mode survives
chmod 0700 "$D/a/b"
# fixed, distinct mtimes so a lost or swapped mtime shows
i=0
while IFS= read -r -d '' p; do
    touch -h -d "@$((1700000000 + i))" "$p"; i=$((i + 1))
done < <(find "$D" -mindepth 1 -depth -print0)

# ---- 2. create and inspect -------------------------------------------------
say "bitlib create --piece-size $PL --tracker $TRACKER"
bl create -o "$WORK/set.torrent" --piece-size $PL --tracker "$TRACKER" "$D"
bl inspect "$WORK/set.torrent" --json >"$WORK/set.json"
bl inspect "$WORK/set.torrent" >"$WORK/set.txt"   # the human form works too
[ -s "$WORK/set.txt" ] || fail "bitlib inspect printed nothing"
transmission-show -u "$WORK/set.torrent" >"$WORK/set.tr"

say "checking inspect --json against the file system, transmission-show and libtorrent"
$PY - "$WORK/set.json" "$D" "$WORK/set.tr" "$WORK/set.torrent" "$PL" "$TRACKER" <<'EOF'
import json, os, re, stat, sys
import libtorrent as lt

js_path, root, tr_path, torrent, PL, tracker = sys.argv[1:]
PL = int(PL)
j = json.load(open(js_path))
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

# -- JSON shape and layout rules
check(re.fullmatch(r'[0-9a-f]{40}', j['info_hash'] or '') is not None, 'info_hash is 40 lower-case hex')
check(j['name'] == 'set', 'name is the directory basename (%r)' % j['name'])
check(j['piece_length'] == PL, 'piece_length %r' % j['piece_length'])
check(j['private'] is False, 'private is false')
check(j['trackers'] == [tracker], 'trackers %r' % j['trackers'])
check(j['tiers'] == [[tracker]], 'tiers %r' % j['tiers'])
check(j['mount'] is None, 'mount is null without --mount')
check(j['prefetch'] == [], 'prefetch is empty without --prefetch')
files = j['files']
at = 0
for f in files:
    check(f['offset'] == at, 'offsets contiguous at %r' % f['path'])
    at += f['length']
    pad = 'p' in f['attributes']
    if pad:
        check(0 < f['length'] < PL, 'pad %r length %d in (0, piece)' % (f['path'], f['length']))
        check(f['mode'] is None, 'pad %r has mode null' % f['path'])
    elif f['length'] > 0:
        # zero-length files hold no bytes, so they need no alignment (BEP 47)
        check(f['offset'] % PL == 0, '%r starts on a piece boundary (offset %d)' % (f['path'], f['offset']))
check(at == j['total_length'], 'total_length %d == sum of lengths %d' % (j['total_length'], at))
check(j['pieces'] == (at + PL - 1) // PL, 'piece count %d covers %d bytes' % (j['pieces'], at))
check(not files or 'p' not in files[-1]['attributes'], 'no trailing pad file')

# -- against the file system
want_files, want_dirs = {}, set()
for dirpath, dirnames, filenames in os.walk(root):
    rel = os.path.relpath(dirpath, root)
    for d in dirnames:
        p = os.path.normpath(os.path.join(rel, d))
        if os.path.islink(os.path.join(dirpath, d)):
            want_files[p] = os.lstat(os.path.join(dirpath, d))
        else:
            want_dirs.add(p)
    for n in filenames:
        want_files[os.path.normpath(os.path.join(rel, n))] = os.lstat(os.path.join(dirpath, n))
real = [f for f in files if 'p' not in f['attributes']]
got = {f['path']: f for f in real}
check(len(got) == len(real), 'no duplicate paths')
check(set(got) == set(want_files), 'file paths: missing %s, extra %s' %
      (sorted(set(want_files) - set(got)), sorted(set(got) - set(want_files))))
for p, st in want_files.items():
    f = got.get(p)
    if not f:
        continue
    check(f['mtime'] == int(st.st_mtime), '%r mtime %r != %d' % (p, f['mtime'], int(st.st_mtime)))
    if stat.S_ISLNK(st.st_mode):
        check(f['length'] == 0, 'symlink %r has length 0' % p)
        check('l' in f['attributes'], 'symlink %r has attr l' % p)
        check(f.get('symlink') == os.readlink(os.path.join(root, p)),
              'symlink %r target %r' % (p, f.get('symlink')))
    else:
        check(f['length'] == st.st_size, '%r length %d != %d' % (p, f['length'], st.st_size))
        check(f['mode'] == '%04o' % stat.S_IMODE(st.st_mode), '%r mode %r != %04o' % (p, f['mode'], stat.S_IMODE(st.st_mode)))
        check(('x' in f['attributes']) == bool(st.st_mode & 0o111), '%r attr x matches the exec bit' % p)
        check('l' not in f['attributes'] and 'symlink' not in f, '%r is not a symlink' % p)
dirs = {d['path']: d for d in j['directories']}
check(want_dirs <= set(dirs), 'directories missing: %s' % sorted(want_dirs - set(dirs)))
check(set(dirs) - want_dirs <= {'', '.'}, 'extra directories: %s' % sorted(set(dirs) - want_dirs - {'', '.'}))
for p in want_dirs & set(dirs):
    st = os.lstat(os.path.join(root, p))
    check(dirs[p]['mode'] == '%04o' % stat.S_IMODE(st.st_mode), 'dir %r mode %r' % (p, dirs[p]['mode']))
    check(dirs[p]['mtime'] == int(st.st_mtime), 'dir %r mtime %r' % (p, dirs[p]['mtime']))
check('emptydir' in dirs, 'the empty directory is listed')

# -- transmission-show.  transmission 3.00 knows nothing of BEP 47: it lists
# padding files as ordinary files named "<name>/<pad path>" and symlinks as
# 0-byte files; sizes are human units (kB = 1000 B, 2 decimals below 100,
# else 1), so sizes are compared through the same formatting.
def tr_size(b):
    units = [(1000, 'kB'), (1000**2, 'MB'), (1000**3, 'GB'), (1000**4, 'TB')]
    u = units[0]
    for x in units:
        if b >= x[0]:
            u = x
    v = b / u[0]
    return '%.*f %s' % (2 if v < 100 else 1, v, u[1])
tr = open(tr_path, encoding='utf-8', errors='surrogateescape').read()
m = re.search(r'^  Hash: ([0-9a-f]{40})$', tr, re.M)
check(m and m.group(1) == j['info_hash'], 'transmission hash %s' % (m and m.group(1)))
m = re.search(r'^  Piece Count: (\d+)$', tr, re.M)
check(m and int(m.group(1)) == j['pieces'], 'transmission piece count')
m = re.search(r'^  Total Size: (.*)$', tr, re.M)
check(m and m.group(1) == tr_size(j['total_length']), 'transmission total %s vs %s' % (m and m.group(1), tr_size(j['total_length'])))
check(re.search(r'^  Privacy: Public torrent$', tr, re.M), 'transmission says public')
check(tracker in tr, 'transmission lists the tracker')
tr_files = sorted(re.findall(r'^  (.+) \((\d+\.\d+ [kMGT]B)\)$', tr.split('\nFILES\n', 1)[1], re.M))
want_tr = sorted(('set/' + f['path'], tr_size(f['length'])) for f in files)
check(tr_files == want_tr, 'transmission files differ:\n  tr:   %s\n  want: %s' % (tr_files, want_tr))

# -- libtorrent.  It reports paths with the torrent name prefixed, flags pad
# (1), executable (4) and symlink (8) from BEP 47 attr, and a symlink's target
# as the "symlink path" resolved against the torrent root, name prefixed.
ti = lt.torrent_info(torrent)
fs = ti.files()
check(str(ti.info_hashes().v1) == j['info_hash'], 'libtorrent hash %s' % ti.info_hashes().v1)
check(ti.total_size() == j['total_length'], 'libtorrent total %d' % ti.total_size())
check(ti.num_pieces() == j['pieces'] and ti.piece_length() == PL, 'libtorrent pieces')
check(ti.priv() is False, 'libtorrent: not private')
check([t.url for t in ti.trackers()] == [tracker], 'libtorrent trackers')
check(fs.num_files() == len(files), 'libtorrent file count %d vs %d' % (fs.num_files(), len(files)))
for i, f in enumerate(files[:fs.num_files()]):
    flags = fs.file_flags(i)
    pad = 'p' in f['attributes']
    check(bool(flags & fs.flag_pad_file) == pad, 'lt pad flag of %r' % f['path'])
    check(bool(flags & fs.flag_executable) == ('x' in f['attributes']), 'lt exec flag of %r' % f['path'])
    check(bool(flags & fs.flag_symlink) == ('l' in f['attributes']), 'lt symlink flag of %r' % f['path'])
    check(fs.file_size(i) == f['length'] and fs.file_offset(i) == f['offset'], 'lt size/offset of %r' % f['path'])
    if not pad:   # libtorrent may rename padding files; real files keep their paths
        check(fs.file_path(i) == 'set/' + f['path'], 'lt path %r vs %r' % (fs.file_path(i), f['path']))
    if flags & fs.flag_symlink:
        want = os.path.normpath(os.path.join('set', os.path.dirname(f['path']), f.get('symlink') or ''))
        check(fs.symlink(i) == want, 'lt symlink of %r: %r, want %r' % (f['path'], fs.symlink(i), want))

if errors:
    print('\n'.join('  mismatch: ' + e for e in errors), file=sys.stderr)
    sys.exit(1)
print('  %d files (%d pads), %d dirs, %d pieces, info-hash %s: all agree' %
      (len(real), len(files) - len(real), len(dirs), j['pieces'], j['info_hash']))
EOF

# ---- 4. libtorrent checks the data -----------------------------------------
say "libtorrent re-checks the data against the piece hashes (then with one byte flipped)"
$PY - "$WORK/set.torrent" "$WORK/data" "$D/share/big.bin" <<'EOF'
import sys, time
import libtorrent as lt

torrent, save_path, victim = sys.argv[1:]
s = lt.session({
    'listen_interfaces': '127.0.0.1:0', 'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False, 'alert_mask': 0,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save_path
h = s.add_torrent(atp)
# handle calls are queued in order, so a status() after force_recheck()
# already sees the checking state
done = (lt.torrent_status.seeding, lt.torrent_status.finished, lt.torrent_status.downloading)

def settle(what):
    """Wait (bounded) until the check is over; return the status."""
    deadline = time.time() + 60
    while time.time() < deadline:
        st = h.status()
        if st.errc.value() or st.state in done:
            return st
        time.sleep(0.1)
    sys.exit('libtorrent: %s did not finish within 60 s (state %s)' % (what, h.status().state))

st = settle('initial check')
h.force_recheck()
st = settle('forced recheck')
n = atp.ti.num_pieces()
print('  libtorrent: progress %.4f, %d/%d pieces, state %s' % (st.progress, st.num_pieces, n, st.state))
if st.errc.value():
    sys.exit('libtorrent error: %s' % st.errc.message())
if st.num_pieces != n or st.progress < 1.0:
    sys.exit('libtorrent: data does not check 100%')

# negative control: one flipped byte must cost exactly one piece
with open(victim, 'r+b') as f:
    f.seek(7)
    b = f.read(1)
    f.seek(7)
    f.write(bytes([b[0] ^ 0xff]))
h.force_recheck()
st = settle('recheck after corruption')
print('  libtorrent after corruption: %d/%d pieces' % (st.num_pieces, n))
if st.num_pieces != n - 1:
    sys.exit('libtorrent: expected exactly one bad piece after flipping a byte')
s.remove_torrent(h)
EOF

# ---- 5. --private ----------------------------------------------------------
say "--private is visible to every tool and changes the info-hash"
bl create -o "$WORK/priv.torrent" --private --piece-size $PL --tracker "$TRACKER" "$D"
bl inspect "$WORK/priv.torrent" --json >"$WORK/priv.json"
[ "$(jq -r .private "$WORK/priv.json")" = true ] || fail "inspect: private is not true"
transmission-show "$WORK/priv.torrent" | grep -q '^  Privacy: Private torrent$' || fail "transmission: not private"
$PY -c 'import sys, libtorrent as lt; sys.exit(0 if lt.torrent_info(sys.argv[1]).priv() else 1)' \
    "$WORK/priv.torrent" || fail "libtorrent: not private"
[ "$(jq -r .info_hash "$WORK/priv.json")" != "$(jq -r .info_hash "$WORK/set.json")" ] ||
    fail "--private did not change the info-hash"

# ---- 6. stock torrents in bitlib inspect -----------------------------------
tr_hash() { transmission-show "$1" | sed -n 's/^  Hash: \([0-9a-f]\{40\}\)$/\1/p'; }
check_stock() { # torrent, expected total bytes, expected file count
    local t=$1 total=$2 nfiles=$3 want got
    bl inspect "$t" --json >"$t.json"
    want=$(tr_hash "$t")
    got=$(jq -r .info_hash "$t.json")
    [ -n "$want" ] && [ "$got" = "$want" ] || fail "$(basename "$t"): bitlib says $got, transmission $want"
    [ "$(jq .total_length "$t.json")" = "$total" ] || fail "$(basename "$t"): total_length"
    [ "$(jq '.files | length' "$t.json")" = "$nfiles" ] || fail "$(basename "$t"): file count"
    echo "  $(basename "$t"): $got, $total bytes, $nfiles files"
}
say "mktorrent torrents read by bitlib inspect with transmission's info-hash"
S=$WORK/data/set/share
mktorrent -l 15 -a "$TRACKER" -o "$WORK/mk-multi.torrent" "$S" >/dev/null
mktorrent -l 15 -a "$TRACKER" -a http://127.0.0.2:1/a,udp://127.0.0.1:1 -p -c "a comment" \
    -o "$WORK/mk-multi-tiers.torrent" "$S" >/dev/null
mktorrent -l 16 -a "$TRACKER" -o "$WORK/mk-single.torrent" "$S/big.bin" >/dev/null
mktorrent -l 15 -d -a "$TRACKER" -o "$WORK/mk-single-1byte.torrent" "$D/lib/python3/site/mod.py" >/dev/null
total_share=$(find "$S" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
nfiles_share=$(find "$S" -type f | wc -l)
check_stock "$WORK/mk-multi.torrent" "$total_share" "$nfiles_share"
check_stock "$WORK/mk-multi-tiers.torrent" "$total_share" "$nfiles_share"
check_stock "$WORK/mk-single.torrent" "$(stat -c %s "$S/big.bin")" 1
check_stock "$WORK/mk-single-1byte.torrent" 1 1
# multi-file paths are relative to the torrent root, without the name
want=$(cd "$S" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
got=$(jq -r '.files[].path' "$WORK/mk-multi.torrent.json" | LC_ALL=C sort)
[ "$want" = "$got" ] || fail "mk-multi paths: got [$got] want [$want]"
[ "$(jq -c .tiers "$WORK/mk-multi-tiers.torrent.json")" = \
  "[[\"$TRACKER\"],[\"http://127.0.0.2:1/a\",\"udp://127.0.0.1:1\"]]" ] || fail "mk-multi-tiers: tiers"
[ "$(jq -r .private "$WORK/mk-multi-tiers.torrent.json")" = true ] || fail "mk-multi-tiers: private"

echo "PASS t_create_interop"
