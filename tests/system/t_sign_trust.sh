#!/usr/bin/env bash
# t_sign_trust: signed descriptions and --trust (issue 13, part 1).  Loopback only.
#
#   - bitlib keygen writes KEY (0600) and KEY.pub; create --sign and sign agree, and
#     re-signing keeps the info-hash; transmission-show reads a signed file with the same
#     info-hash
#   - verify, fetch, seed, mount and run refuse, with one line naming the check, exit 1:
#     an unsigned description, one signed by another key (its fingerprint shown), one whose
#     files (info dict) were altered, one whose mount point was altered after signing
#   - $BITLIB_TRUST_DIR stands for /etc/bitlib/trusted.d: its keys are required when it
#     exists; --trust replaces them
#   - with the right key: seed and fetch move the set; run (root) mounts it, the daemon
#     started with --trust passed on, and reads a file through the mount
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib/cleanup.sh"
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
for t in gcc python3 jq; do command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
cl_init
W=$(mktemp -d "${TMPDIR:-/tmp}/t_sign_trust.XXXXXX")
W=$(realpath "$W")
cl_track_dir "$W"
fail() { echo "FAIL: $*"; for f in "$W"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -5 "$f"; }; done; exit 1; }
ih() { "$BITLIB" inspect --json "$1" | jq -r .info_hash; }
# patch FILE OLD NEW: replace bytes (same length) in a copy, written to FILE.OUT
patch() { python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
src, old, new, out = sys.argv[1:]
b = open(src, 'rb').read()
assert len(old) == len(new) and b.count(old.encode()) >= 1, "pattern not found"
open(out, 'wb').write(b.replace(old.encode(), new.encode()))
PY
}

echo "== keys and descriptions"
"$HERE/lib/mklibset.sh" "$W/set" >/dev/null
rm -rf "$W/set/src"
"$BITLIB" keygen -o "$W/k1" >/dev/null
"$BITLIB" keygen -o "$W/k2" >/dev/null
[[ $(stat -c %a "$W/k1") == 600 && -f $W/k1.pub ]] || fail "keygen: KEY not 0600 or no KEY.pub"
"$BITLIB" keygen -o "$W/k1" 2>"$W/err" && fail "keygen overwrote a key"
"$BITLIB" create -q -o "$W/unsigned.torrent" --mount "$W/mnt-a" "$W/set"
"$BITLIB" create -q -o "$W/signed.torrent" --mount "$W/mnt-a" --sign "$W/k1" "$W/set"
"$BITLIB" sign -q "$W/unsigned.torrent" --key "$W/k1" -o "$W/signed2.torrent"
"$BITLIB" sign -q "$W/signed.torrent" --key "$W/k2" -o "$W/other.torrent"
h=$(ih "$W/unsigned.torrent")
for f in signed signed2 other; do [[ $(ih "$W/$f.torrent") == "$h" ]] || fail "$f: info-hash changed"; done
echo "   info-hash $h unchanged by signing and re-signing"
patch "$W/signed.torrent" "mnt-a" "mnt-b" "$W/job.torrent"
patch "$W/signed.torrent" "libunused.so" "libunuseD.so" "$W/files.torrent"
if command -v transmission-show >/dev/null; then
    transmission-show "$W/signed.torrent" | grep -qi "hash: *$h" || fail "transmission-show disagrees on a signed file"
    echo "   transmission-show reads the signed file, same info-hash"
fi

# expect WHAT FRAGMENT CMD...: CMD exits 1 (or $ERC) with one line of stderr holding FRAGMENT
expect() {
    local what=$1 frag=$2 rc=0; shift 2
    timeout 20 "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
    ((rc == ${ERC:-1})) || fail "$what: exit $rc, not ${ERC:-1}: $(cat "$W/err")"
    [[ $(wc -l <"$W/err") -eq 1 ]] || fail "$what: not one line: $(cat "$W/err")"
    grep -qF -- "$frag" "$W/err" || fail "$what: '$(cat "$W/err")' lacks '$frag'"
    echo "   $what: $(cat "$W/err")"
}

fpr2=$("$BITLIB" verify "$W/other.torrent" --trust "$W/k2.pub" | grep -o 'ed25519:[0-9a-f]*')
mkdir -p "$W/mp"
cmds=(verify fetch seed mount run)
args() { # COMMAND DESC [OPTION...]: the command line that loads DESC
    local c=$1 d=$2; shift 2
    case $c in
    verify) echo "$BITLIB verify $* $d";;
    fetch) echo "$BITLIB fetch $* $d $W/copy-x --no-tracker --peer 127.0.0.1:9";;
    seed) echo "$BITLIB seed $* $d $W/set --no-tracker --listen 127.0.0.1:0";;
    mount) echo "$BITLIB mount $* $d $W/mp --no-tracker --cache $W/cache-x";;
    run) echo "$BITLIB run --no-tracker --cache $W/cache-x $* $d -- /bin/true";;
    esac
}
echo "== refused, with --trust k1.pub"
for c in "${cmds[@]}"; do
    # shellcheck disable=SC2046
    expect "$c unsigned" "unsigned:" $(args $c "$W/unsigned.torrent" --trust "$W/k1.pub")
    expect "$c other key" "signed by an untrusted key $fpr2" $(args $c "$W/other.torrent" --trust "$W/k1.pub")
    expect "$c files altered" "signature does not match" $(args $c "$W/files.torrent" --trust "$W/k1.pub")
    expect "$c mount altered" "per-job section altered" $(args $c "$W/job.torrent" --trust "$W/k1.pub")
done
[[ ! -e $W/copy-x && ! -e $W/cache-x ]] || fail "a refused command left files behind"
ERC=2 expect "wrong key file" "not an Ed25519 public key" "$BITLIB" verify "$W/signed.torrent" --trust "$W/k1"

echo "== the site's trusted keys (\$BITLIB_TRUST_DIR)"
mkdir "$W/trusted.d"
cp "$W/k1.pub" "$W/trusted.d/"
export BITLIB_TRUST_DIR=$W/trusted.d
expect "fetch unsigned (site keys)" "unsigned:" $(args fetch "$W/unsigned.torrent")
"$BITLIB" verify "$W/signed.torrent" >/dev/null || fail "verify with the site's keys refused a good file"
expect "--trust replaces the site keys" "untrusted key" $(args verify "$W/signed.torrent" --trust "$W/k2.pub")
export BITLIB_TRUST_DIR=$W/none
rc=0; "$BITLIB" verify "$W/signed.torrent" 2>"$W/err" || rc=$?
((rc == 2)) || fail "verify without any trusted key: exit $rc, not 2"
unset BITLIB_TRUST_DIR

echo "== with the right key the set moves"
export BITLIB_TRUST_DIR=$W/trusted.d
"$BITLIB" seed "$W/signed.torrent" "$W/set" --listen 127.0.0.1:0 --no-tracker 2>"$W/seed.log" &
cl_track_pid $!
port=
for _ in $(seq 100); do
    port=$(grep -o 'listening for peers on 127.0.0.1:[0-9]*' "$W/seed.log" | grep -o '[0-9]*$' || true)
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || fail "the signed seeder did not start"
timeout 60 "$BITLIB" fetch -q "$W/signed.torrent" "$W/copy" --peer "127.0.0.1:$port" --no-tracker \
    --stall-timeout 30 2>"$W/fetch.log" || fail "fetch of the signed set failed"
out=$("$W/copy/bin/app") || fail "bin/app does not run from the fetched copy"
echo "   fetch --trust (site keys): $out"
if [[ $(id -u) -eq 0 && -c /dev/fuse ]] && command -v fusermount3 >/dev/null; then
    export BITLIB_RUNTIME_DIR=$W/rt
    cl_track_mount "$W/mnt-a"
    out=$(timeout 60 "$BITLIB" run --trust "$W/k1.pub" --no-tracker --peer "127.0.0.1:$port" \
        --cache "$W/cache" "$W/signed.torrent" -- "$W/mnt-a/bin/app" 2>"$W/run.log") ||
        fail "bitlib run of the signed set failed"
    echo "   run --trust k1.pub through the mount: $out"
    for _ in $(seq 50); do grep -q " $W/mnt-a " /proc/mounts || break; sleep 0.2; done
    ! grep -q " $W/mnt-a " /proc/mounts || fail "the mount stayed after the last rank"
else
    echo "   (not root or no FUSE: run through the mount not tried)"
fi
echo "PASS"
