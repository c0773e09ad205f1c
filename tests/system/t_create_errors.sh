#!/usr/bin/env bash
# t_create_errors: bad inputs to `bitlib create` and `bitlib inspect` give one
# clear line on stderr and a non-zero exit, never a crash.
#
# A crash is an exit code of 128 or more (a signal) or any sanitizer report
# (run with BITLIB=build/asan/bitlib to catch memory errors).  Positive
# controls (a valid piece size, a valid torrent) make sure the harness itself
# is not what fails.  Unreadable-directory cases run as an unprivileged user
# (root reads through chmod 000).
set -euo pipefail

BITLIB=${BITLIB:-build/bitlib}
PY=/usr/bin/python3
[ -x "$BITLIB" ] || { echo "FAIL: $BITLIB is not built"; exit 1; }
BITLIB=$(realpath "$BITLIB")

. "$(dirname "${BASH_SOURCE[0]}")/lib/cleanup.sh"
cl_init
WORK=$(mktemp -d /tmp/t_create_errors.XXXXXX)
O=$WORK/outdir
cl_track_dir "$WORK"
unlock_work() { chmod -R u+rwx "$WORK" 2>/dev/null || true; }
cl_on_exit unlock_work
chmod 0755 "$WORK"

say() { echo "== $*"; }
failures=0
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

crashed() { # rc errfile
    [ "$1" -ge 128 ] || grep -qE 'Sanitizer|runtime error:' "$2"
}

# expect_error DESC NEEDLE cmd...: non-zero exit, no crash, exactly one line
# on stderr, and that line contains NEEDLE (the thing the user must fix).
expect_error() {
    local desc=$1 needle=$2 rc=0
    shift 2
    "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    if crashed "$rc" "$WORK/err"; then
        bad "$desc: crashed (exit $rc)"; sed 's/^/    /' "$WORK/err" | head -20 >&2; return
    fi
    local lines
    lines=$(wc -l <"$WORK/err")
    if [ "$rc" -eq 0 ]; then
        bad "$desc: exit 0"
    elif [ "$lines" -ne 1 ]; then
        bad "$desc: $lines lines on stderr, want 1:"; sed 's/^/    /' "$WORK/err" >&2
    elif ! grep -qiF -- "$needle" "$WORK/err"; then
        bad "$desc: message does not mention '$needle': $(cat "$WORK/err")"
    else
        echo "  ok ($rc) $desc: $(cat "$WORK/err")"
    fi
    # every refused create writes to $O/x.torrent: a failure leaves nothing
    if [ -e "$O/x.torrent" ]; then
        bad "$desc: left $O/x.torrent behind"; rm -f "$O/x.torrent"
    fi
}

# expect_ok DESC cmd...: exit 0 and no sanitizer report.
expect_ok() {
    local desc=$1 rc=0
    shift
    "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    if [ "$rc" -ne 0 ] || crashed "$rc" "$WORK/err"; then
        bad "$desc: exit $rc"; sed 's/^/    /' "$WORK/err" | head -20 >&2
    else
        echo "  ok $desc"
    fi
}

# Run as nobody: root bypasses permission bits.
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null; then
        as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
    elif command -v runuser >/dev/null; then
        as_user() { runuser -u nobody -- "$@"; }
    else
        as_user() { return 99; }
    fi
else
    as_user() { "$@"; }
fi
# nobody must be able to run the binary wherever the tree lives
mkdir -p "$WORK/bin"
cp "$BITLIB" "$WORK/bin/bitlib"
chmod 0755 "$WORK/bin" "$WORK/bin/bitlib"
UBL=$WORK/bin/bitlib

mkset() { # a small valid set in $1
    mkdir -p "$1/lib"
    head -c 40000 /dev/urandom >"$1/lib/libok.so"
    printf 'x' >"$1/one"
}

# ---- create ----------------------------------------------------------------
say "create: missing, unreadable and odd inputs"
mkset "$WORK/good"
mkdir -p "$O"
chmod 0777 "$O"
expect_ok "valid set (control)" "$BITLIB" create -o "$O/good.torrent" "$WORK/good"
expect_error "missing directory" "$WORK/nope" \
    "$BITLIB" create -o "$O/x.torrent" "$WORK/nope"
[ ! -e "$O/x.torrent" ] || bad "missing directory: left an output file behind"
expect_error "no directory given" "" "$BITLIB" create -o "$O/x.torrent"
expect_error "no output given" "" "$BITLIB" create "$WORK/good"
expect_error "a regular file instead of a directory" "$WORK/good/one" \
    "$BITLIB" create -o "$O/x.torrent" "$WORK/good/one"
expect_error "unknown option" "--bogus" "$BITLIB" create --bogus -o "$O/x.torrent" "$WORK/good"

if as_user true 2>/dev/null; then
    mkset "$WORK/unread"
    chmod -R a+rX "$WORK/unread"
    expect_ok "valid set as nobody (control)" as_user "$UBL" create -o "$O/u.torrent" "$WORK/unread"
    chmod 000 "$WORK/unread"
    expect_error "unreadable top directory (as nobody)" "$WORK/unread" \
        as_user "$UBL" create -o "$O/x.torrent" "$WORK/unread"
    chmod 0755 "$WORK/unread"
    chmod 000 "$WORK/unread/lib"
    expect_error "unreadable subdirectory (as nobody)" "lib" \
        as_user "$UBL" create -o "$O/x.torrent" "$WORK/unread"
    chmod 0755 "$WORK/unread/lib"
    chmod 000 "$WORK/unread/lib/libok.so"
    expect_error "unreadable file (as nobody)" "libok.so" \
        as_user "$UBL" create -o "$O/x.torrent" "$WORK/unread"
    chmod 0644 "$WORK/unread/lib/libok.so"
    mkdir -p "$WORK/ro"
    chmod 0555 "$WORK/ro"
    expect_error "output directory not writable (as nobody)" "$WORK/ro/x.torrent" \
        as_user "$UBL" create -o "$WORK/ro/x.torrent" "$WORK/unread"
else
    echo "  (no way to drop privileges: unreadable-directory cases not run)"
fi
expect_error "output in a missing directory" "$WORK/none/x.torrent" \
    "$BITLIB" create -o "$WORK/none/x.torrent" "$WORK/good"
expect_error "output is a directory" "$O" "$BITLIB" create -o "$O" "$WORK/good"

say "create: FIFOs and sockets are skipped with a warning"
mkset "$WORK/special"
mkfifo "$WORK/special/lib/a-fifo"
$PY -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$WORK/special/a-socket"
rc=0
"$BITLIB" create -o "$O/special.torrent" "$WORK/special" >"$WORK/out" 2>"$WORK/warn" </dev/null || rc=$?
if [ $rc -ne 0 ] || crashed $rc "$WORK/warn"; then
    bad "set with a FIFO and a socket: exit $rc: $(cat "$WORK/warn")"
else
    grep -q 'a-fifo' "$WORK/warn" || bad "no warning naming the FIFO: $(cat "$WORK/warn")"
    grep -q 'a-socket' "$WORK/warn" || bad "no warning naming the socket: $(cat "$WORK/warn")"
    rc=0
    "$BITLIB" inspect --json "$O/special.torrent" >"$WORK/special.json" 2>"$WORK/err" || rc=$?
    if [ $rc -ne 0 ]; then
        bad "inspect of the FIFO/socket set: exit $rc"
    else
        paths=$(jq -r '.files[].path, .directories[].path' "$WORK/special.json")
        if grep -qE 'a-fifo|a-socket' <<<"$paths"; then bad "FIFO or socket listed in the result"; fi
        grep -qx 'lib/libok.so' <<<"$paths" || bad "regular file missing beside the FIFO"
        grep -qx 'one' <<<"$paths" || bad "regular file missing beside the socket"
        echo "  ok skipped with warnings:"
        grep -E 'a-fifo|a-socket' "$WORK/warn" | sed 's/^/    /'
    fi
fi

say "create: a name that is not valid UTF-8 is refused, named in the message"
mkset "$WORK/badname"
: >"$WORK/badname/lib/notutf8-$(printf '\xff\xfe').so"
expect_error "non-UTF-8 file name" "notutf8-" "$BITLIB" create -o "$O/x.torrent" "$WORK/badname"
rm -f "$WORK/badname/lib/notutf8-"*
mkdir "$WORK/badname/dir-$(printf '\xc3\x28')"
expect_error "non-UTF-8 directory name" "dir-" "$BITLIB" create -o "$O/x.torrent" "$WORK/badname"
rmdir "$WORK/badname/dir-"*
ln -s "target-$(printf '\xed\xa0\x80')" "$WORK/badname/lnk"  # a UTF-16 surrogate
rc=0
"$BITLIB" create -o "$O/x.torrent" "$WORK/badname" >/dev/null 2>"$WORK/err" || rc=$?
crashed $rc "$WORK/err" && bad "non-UTF-8 symlink target: crashed (exit $rc)"
echo "  (non-UTF-8 symlink target: exit $rc: $(head -1 "$WORK/err"))"
rm -f "$WORK/badname/lnk"

# (a leading space, ' 16384', is accepted as 16384: harmless, not checked)
say "create: bad --piece-size values"
expect_ok "--piece-size 16384 (smallest, control)" "$BITLIB" create -o "$O/p.torrent" --piece-size 16384 "$WORK/good"
expect_ok "--piece-size 16777216 (largest, control)" "$BITLIB" create -o "$O/p.torrent" --piece-size 16777216 "$WORK/good"
for ps in 24576 49152 8192 1 0 33554432 4294967296 18446744073709551616 -16384 abc "" 16384abc 0x4000 1.5; do
    expect_error "--piece-size '$ps'" "piece" "$BITLIB" create -o "$O/x.torrent" --piece-size "$ps" "$WORK/good"
done

# ---- inspect ---------------------------------------------------------------
say "inspect: files that are not (valid) description files"
T=$WORK/t
mkdir -p "$T"
expect_ok "inspect a valid file (control)" "$BITLIB" inspect "$O/good.torrent"
expect_ok "inspect --json a valid file (control)" "$BITLIB" inspect --json "$O/good.torrent"
expect_error "missing file" "$T/missing.torrent" "$BITLIB" inspect "$T/missing.torrent"
: >"$T/empty.torrent"
expect_error "empty file" "$T/empty.torrent" "$BITLIB" inspect "$T/empty.torrent"
expect_error "a directory" "$T" "$BITLIB" inspect "$T"
size=$(stat -c %s "$O/good.torrent")
for cut in 1 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$O/good.torrent" >"$T/cut$cut.torrent"
    expect_error "truncated to $cut of $size bytes" "$T/cut$cut.torrent" "$BITLIB" inspect --json "$T/cut$cut.torrent"
done
for i in 1 2 3 4 5; do
    head -c $((i * 997)) /dev/urandom >"$T/random$i.torrent"
    expect_error "random bytes #$i" "$T/random$i.torrent" "$BITLIB" inspect "$T/random$i.torrent"
done
cp "$O/good.torrent" "$T/trailing.torrent"
printf '\n' >>"$T/trailing.torrent"
expect_error "trailing newline after the torrent" "$T/trailing.torrent" "$BITLIB" inspect "$T/trailing.torrent"

# Hand-built torrents: one change each from a valid multi-file torrent.
$PY - "$T" <<'EOF'
import hashlib, os, sys
out = sys.argv[1]
def enc(v, sort=True):
    if isinstance(v, int): return b'i%de' % v
    if isinstance(v, str): v = v.encode()
    if isinstance(v, bytes): return b'%d:%s' % (len(v), v)
    if isinstance(v, list): return b'l' + b''.join(enc(x, sort) for x in v) + b'e'
    items = [(k.encode() if isinstance(k, str) else k, x) for k, x in v.items()]
    if sort: items.sort()
    return b'd' + b''.join(enc(k, sort) + enc(x, sort) for k, x in items) + b'e'
PL = 16384
def torrent(paths, sizes=None):
    sizes = sizes or [10] * len(paths)
    total = sum(sizes)
    pieces = b'\0' * 20 * ((total + PL - 1) // PL)
    return {'announce': 'http://127.0.0.1:1/announce',
            'info': {'files': [{'length': s, 'path': p} for p, s in zip(paths, sizes)],
                     'name': 'set', 'piece length': PL, 'pieces': pieces}}
def write(name, data):
    with open(os.path.join(out, name), 'wb') as f: f.write(data)
write('control.torrent', enc(torrent([['a'], ['b', 'c']])))
# keys out of order, at the top level and inside info (python keeps insertion order)
t = torrent([['a']]); t = {'info': t['info'], 'announce': t['announce']}
write('unsorted-top.torrent', enc(t, sort=False))
t = torrent([['a']]); t['info'] = dict(reversed(list(t['info'].items())))
write('unsorted-info.torrent', b'd8:announce27:http://127.0.0.1:1/announce4:info' + enc(t['info'], sort=False) + b'e')
write('dotdot.torrent', enc(torrent([['..', 'evil']])))
write('dotdot-deep.torrent', enc(torrent([['a', '..', '..', 'evil']])))
write('dot.torrent', enc(torrent([['.', 'a']])))
write('empty-component.torrent', enc(torrent([['a', '', 'b']])))
write('slash-in-component.torrent', enc(torrent([['/etc/passwd']])))
write('empty-path.torrent', enc(torrent([[]])))
t = torrent([['a']]); t['info']['name'] = '..'
write('dotdot-name.torrent', enc(t))
write('dup-path.torrent', enc(torrent([['a'], ['a']])))
# a huge string length, and one just beyond the end of the file
write('huge-length.torrent', b'd8:announce99999999999999999999:http://127.0.0.1:1/announce4:infodee')
c = enc(torrent([['a']]))
write('length-beyond-end.torrent', c.replace(b'6:pieces20:', b'6:pieces99:', 1))
t = torrent([['a']]); t['info']['pieces'] = b'\0' * 19
write('short-pieces.torrent', enc(t))
t = torrent([['a']]); t['info']['pieces'] = b'\0' * 40
write('extra-pieces.torrent', enc(t))
t = torrent([['a']]); t['info']['piece length'] = 0
write('zero-piece-length.torrent', enc(t))
t = torrent([['a']], [-5])
write('negative-length.torrent', enc(t))
t = torrent([['a']]); del t['info']
write('no-info.torrent', enc(t))
t = torrent([['a']]); t['info'] = 'not a dict'
write('info-not-dict.torrent', enc(t))
t = torrent([['a']]); t['info']['files'][0]['path'] = [b'\xff\xfe']
write('non-utf8-path.torrent', enc(t))
write('nested-deep.torrent', b'd4:info' + b'l' * 100000 + b'e' * 100000 + b'e')
EOF
expect_ok "hand-built valid torrent (control)" "$BITLIB" inspect --json "$T/control.torrent"
for name in unsorted-top unsorted-info dotdot dotdot-deep dot empty-component slash-in-component \
            empty-path dotdot-name dup-path huge-length length-beyond-end short-pieces extra-pieces \
            zero-piece-length negative-length no-info info-not-dict non-utf8-path nested-deep; do
    expect_error "inspect $name" "$name.torrent" "$BITLIB" inspect --json "$T/$name.torrent"
done

if [ $failures -ne 0 ]; then
    echo "FAIL t_create_errors: $failures check(s) failed"
    exit 1
fi
echo "PASS t_create_errors"
