#!/bin/bash
# make install / make uninstall:
#  - DESTDIR + PREFIX: exactly the expected files (the binary, every
#    docs/man page, both units, bash completion, both modulefiles, README and
#    examples, /etc/bitlib/tracker.conf), paths inside them naming PREFIX and
#    never DESTDIR, no @PLACEHOLDER@ left, a changed configuration kept on
#    reinstall, every PKGLIB_FILES file (and one the test adds through the
#    hook) installed beside the binary;
#  - a real PREFIX: the installed binary runs and reports src/core/version.h's
#    version; `man` finds the pages; bash-completion's loader finds the
#    completion under PREFIX/share; Lmod loads the Lua and the Tcl modulefile
#    (PATH and MANPATH point into PREFIX, system man pages still found) and
#    unloads them cleanly;
#  - make uninstall leaves only the configuration.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v make >/dev/null || { echo "SKIP: make missing"; exit 77; }
work=$(mktemp -d /tmp/t_pkg_install.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
V=$(sed -n 's/^#define BL_VERSION "\(.*\)"$/\1/p' src/core/version.h)
[[ -n $V ]] || fail "no BL_VERSION in src/core/version.h"
make -s all >"$work/build.log" 2>&1 || { tail "$work/build.log"; fail "make all"; }

# 1. staged install, with one more file through the PKGLIB_FILES hook (beside
# whatever the Makefile lists there itself)
stage=$work/stage
printf 'PKGLIB_FILES += docs/man/bitlib.1\nprint-pkglib: ; @echo $(PKGLIB_FILES)\n' >"$work/hook.mk"
mk() { make -s -f Makefile -f "$work/hook.mk" "$@"; }
pkglib=$(mk print-pkglib)
grep -qw docs/man/bitlib.1 <<<"$pkglib" || fail "PKGLIB_FILES += does not add to the list ($pkglib)"
mk install DESTDIR="$stage" PREFIX=/opt/bitlib >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "make install DESTDIR=... failed"; }
tag=$(command -v python3 >/dev/null && python3 -c 'import sys; print(sys.implementation.cache_tag)' || true)
expected=$(
  {
    echo opt/bitlib/bin/bitlib
    for p in docs/man/*.1; do echo "opt/bitlib/share/man/man1/${p##*/}"; done
    echo opt/bitlib/lib/systemd/system/bitlib-tracker.service
    echo opt/bitlib/lib/systemd/system/bitlib-seed@.service
    echo opt/bitlib/share/bash-completion/completions/bitlib
    echo "opt/bitlib/share/modulefiles/bitlib/$V"
    echo "opt/bitlib/share/modulefiles/bitlib/$V.lua"
    echo opt/bitlib/share/doc/bitlib/README.md
    echo opt/bitlib/share/doc/bitlib/examples/etc/bitlib/tracker.conf
    echo opt/bitlib/share/doc/bitlib/examples/etc/bitlib/seed/site.conf
    for f in $pkglib; do echo "opt/bitlib/lib/bitlib/${f##*/}"; done
    for f in src/audit/python/*.py; do
      echo "opt/bitlib/lib/bitlib/python/${f##*/}"
      # byte-compiled by make install when python3 is there
      if [[ -n $tag ]]; then f=${f##*/}; echo "opt/bitlib/lib/bitlib/python/__pycache__/${f%.py}.$tag.pyc"; fi
    done
    echo etc/bitlib/tracker.conf
  } | sort)
got=$(cd "$stage" && find . -type f | sed 's|^\./||' | sort)
if [[ $got != "$expected" ]]; then
  echo "installed but not expected:"; comm -13 <(echo "$expected") <(echo "$got")
  echo "expected but not installed:"; comm -23 <(echo "$expected") <(echo "$got")
  fail "make install DESTDIR=... PREFIX=/opt/bitlib installed the wrong set of files"
fi
[[ -d $stage/etc/bitlib/seed ]] || fail "no /etc/bitlib/seed directory"
[[ $(stat -c %a "$stage/opt/bitlib/bin/bitlib") == 755 ]] || fail "the binary is not mode 0755"
[[ $(stat -c %a "$stage/opt/bitlib/lib/bitlib/bitlib.1") == 644 ]] || fail "a PKGLIB_FILES file is not mode 0644"
grep -rl -- "$stage" "$stage" && fail "an installed file names DESTDIR"
grep -rlE '@[A-Z]+@' "$stage" && fail "an installed file has an unreplaced @PLACEHOLDER@"
grep -qx 'ExecStart=/opt/bitlib/bin/bitlib tracker --listen ${LISTEN} $OPTIONS' \
  "$stage/opt/bitlib/lib/systemd/system/bitlib-tracker.service" || fail "the tracker unit's ExecStart does not name PREFIX/bin/bitlib"
grep -qx 'EnvironmentFile=/etc/bitlib/seed/%i.conf' "$stage/opt/bitlib/lib/systemd/system/bitlib-seed@.service" ||
  fail "the seeder unit does not read /etc/bitlib/seed/%i.conf"
grep -qx 'set prefix /opt/bitlib' "$stage/opt/bitlib/share/modulefiles/bitlib/$V" || fail "the Tcl modulefile's prefix is not PREFIX"
echo "# changed by the administrator" >>"$stage/etc/bitlib/tracker.conf"
make -s install DESTDIR="$stage" PREFIX=/opt/bitlib >"$work/install2.log" 2>&1 || fail "make install (again) failed"
grep -q 'changed by the administrator' "$stage/etc/bitlib/tracker.conf" || fail "make install overwrote /etc/bitlib/tracker.conf"
mk uninstall DESTDIR="$stage" PREFIX=/opt/bitlib >"$work/uninstall.log" 2>&1 || fail "make uninstall failed"
left=$(cd "$stage" && find . -type f | sed 's|^\./||')
[[ $left == etc/bitlib/tracker.conf ]] || fail "make uninstall left: $(echo $left)"
echo "ok: DESTDIR install puts exactly the expected $(wc -l <<<"$expected") files under PREFIX, keeps configuration, uninstalls"

# 2. a real prefix
P=$work/usr
make -s install PREFIX="$P" SYSCONFDIR="$work/etc" >"$work/install3.log" 2>&1 || { cat "$work/install3.log"; fail "make install PREFIX=... failed"; }
[[ $("$P/bin/bitlib" --version) == "bitlib $V" ]] || fail "installed bitlib --version says '$("$P/bin/bitlib" --version)', not 'bitlib $V'"
if command -v man >/dev/null; then
  [[ $(MANPATH=$P/share/man man -w bitlib-mount) == "$P/share/man/man1/bitlib-mount.1" ]] || fail "man -w bitlib-mount does not find the installed page"
  MANPATH=$P/share/man MANWIDTH=80 man bitlib-mount 2>&1 | grep -q -- '--read-timeout' || fail "man bitlib-mount does not show the page"
fi
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
  got=$(XDG_DATA_DIRS=$P/share bash -c 'source /usr/share/bash-completion/bash_completion
    __load_completion bitlib && complete -p bitlib')
  [[ $got == "complete -F _bitlib bitlib" ]] || fail "bash-completion does not load the completion from PREFIX/share ($got)"
  echo "ok: bash-completion loads PREFIX/share/bash-completion/completions/bitlib"
else
  echo "note: bash-completion not installed; its loader not checked"
fi

lmod=$(ls -d /usr/share/lmod/*/init/bash 2>/dev/null | head -1)
if [[ -n $lmod ]]; then
  mkdir -p "$work/tcl-only/bitlib"
  cp "$P/share/modulefiles/bitlib/$V" "$work/tcl-only/bitlib/"
  for tree in "$P/share/modulefiles" "$work/tcl-only"; do
    out=$(env -u MANPATH PATH=/usr/bin:/bin bash -c '
      source "$1" >/dev/null 2>&1; module use "$2"; module load bitlib || exit 1
      echo "bin=$(command -v bitlib)"; echo "version=$(bitlib --version)"
      echo "page=$(man -w bitlib-mount)"; echo "system=$(man -w man)"
      module unload bitlib; echo "after=${PATH}|${MANPATH-unset}"' _ "$lmod" "$tree" 2>&1)
    kind=$([[ $tree == "$work/tcl-only" ]] && echo Tcl || echo Lua)
    grep -qx "bin=$P/bin/bitlib" <<<"$out" || fail "$kind modulefile: bitlib is not PREFIX/bin/bitlib after module load: $out"
    grep -qx "version=bitlib $V" <<<"$out" || fail "$kind modulefile: wrong version: $out"
    grep -qx "page=$P/share/man/man1/bitlib-mount.1" <<<"$out" || fail "$kind modulefile: man does not find bitlib-mount: $out"
    grep -q "^system=/usr/share/man/" <<<"$out" || fail "$kind modulefile: the system's man pages are hidden: $out"
    grep -qx "after=/usr/bin:/bin|unset" <<<"$out" || fail "$kind modulefile: module unload leaves PATH/MANPATH changed: $out"
  done
  echo "ok: Lmod loads and unloads the Lua and the Tcl modulefile"
else
  echo "note: Lmod not installed; the modulefiles not loaded"
fi

# the installed binary finds the installed audit library and Python import hook
# (PREFIX/lib/bitlib): a --no-fuse job from a warm cache (no network), importing from the set
if command -v python3 >/dev/null; then
  nf=$work/nf
  mkdir -p "$nf/set/py/nfpkg" "$nf/run"
  echo 'X = 5' >"$nf/set/py/nfpkg/__init__.py"
  "$P/bin/bitlib" create -q -o "$nf/s.torrent" --mount "$nf/mp" "$nf/set"
  cp -a "$nf/set" "$nf/cache"
  out=$(cd / && BITLIB_RUNTIME_DIR=$nf/run "$P/bin/bitlib" run --no-fuse --no-tracker \
    --listen 127.0.0.1:0 --cache "$nf/cache" "$nf/s.torrent" -- python3 -c 'import sys, nfpkg
import _bitlib_nofuse
print(type(sys.meta_path[0]).__name__, nfpkg.X, _bitlib_nofuse.__file__)' 2>&1) ||
    fail "bitlib run --no-fuse from PREFIX: $out"
  [[ $out == "BitlibFinder 5 $P/lib/bitlib/python/_bitlib_nofuse.py" ]] ||
    fail "bitlib run --no-fuse from PREFIX does not use PREFIX/lib/bitlib/python: $out"
  echo "ok: bitlib run --no-fuse from PREFIX uses PREFIX/lib/bitlib/python (the import hook)"
  sleep 0.5
  rm -rf "$nf"
fi

make -s uninstall PREFIX="$P" SYSCONFDIR="$work/etc" >/dev/null 2>&1 || fail "make uninstall PREFIX=... failed"
left=$(cd "$work" && find usr etc -type f 2>/dev/null)
[[ $left == etc/bitlib/tracker.conf ]] || fail "make uninstall left: $(echo $left)"
echo "ok: installed under a real PREFIX: runs, man pages, completion, modulefiles; uninstalled"
