#!/bin/bash
# The Debian package, end to end on this machine:
#  - debian/changelog's version is src/core/version.h's (and debian/rules
#    refuses to build when they differ: checked on a copy with another version);
#  - `dpkg-buildpackage -us -uc -b` builds a .deb from a copy of the tree (the
#    build cleans with `make clean`, so never in the tree under test), holding
#    the binary, every man page, both units, the completion, the modulefiles
#    and /etc/bitlib/tracker.conf as a conffile;
#  - `apt-get install ./bitlib_V_ARCH.deb` installs it: bitlib --version, `man
#    bitlib-mount` (every page, rendered without warnings), the system user
#    bitlib made by the postinst, `systemd-analyze verify` on the installed
#    units (silent), the units left disabled, the completion loaded by
#    bash-completion, a description created and inspected with /usr/bin/bitlib;
#  - `apt-get purge` removes it all again (and the test removes the bitlib
#    user if it made it).
# Runs as root; skips if a bitlib package is installed already (not ours to
# touch).  Takes about a minute, mostly the build.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (dpkg -i)"; exit 77; }
for t in dpkg-buildpackage dh dpkg-parsechangelog apt-get man systemd-analyze; do
  command -v "$t" >/dev/null || { echo "SKIP: $t missing; run scripts/deps"; exit 77; }
done
V=$(sed -n 's/^#define BL_VERSION "\(.*\)"$/\1/p' src/core/version.h)
ARCH=$(dpkg --print-architecture)
work=$(mktemp -d /tmp/t_pkg_deb.XXXXXX)
installed=0 made_user=0
cleanup() {
  if ((installed)); then
    apt-get -o DPkg::Lock::Timeout=600 purge -y -qq bitlib >/dev/null 2>&1 || dpkg --purge bitlib >/dev/null 2>&1
  fi
  if ((made_user)) && getent passwd bitlib >/dev/null; then
    userdel bitlib 2>/dev/null; getent group bitlib >/dev/null && groupdel bitlib 2>/dev/null
  fi
  rm -rf -- "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
APT=(apt-get -o DPkg::Lock::Timeout=600)

# 1. one version
cv=$(dpkg-parsechangelog -l debian/changelog -S Version)
[[ $cv == "$V" ]] || fail "debian/changelog says $cv, src/core/version.h says $V: add a debian/changelog entry for $V"
copy() {  # DIR: the tree without build output or git
  mkdir -p "$1"
  tar --exclude=./build --exclude=./.git --exclude=./debian/bitlib --exclude=./debian/.debhelper \
    --exclude=./debian/tmp -cf - . | tar -C "$1" -xf -
}
copy "$work/mismatch"
sed -i "1s/($V)/(9.9.9)/" "$work/mismatch/debian/changelog"
out=$(cd "$work/mismatch" && make -s -f debian/rules override_dh_auto_configure 2>&1) &&
  fail "debian/rules accepted a changelog version differing from src/core/version.h"
grep -q "debian/changelog says 9.9.9, src/core/version.h says $V" <<<"$out" || fail "debian/rules' refusal says: $out"
echo "ok: debian/changelog has $V, the version in src/core/version.h; debian/rules refuses a mismatch"

# 2. build
src=$work/src/bitlib-$V
copy "$src"
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b -j2) >"$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log"; fail "dpkg-buildpackage -us -uc -b"; }
deb=$work/src/bitlib_${V}_$ARCH.deb
[[ -f $deb ]] || fail "no $deb after the build: $(ls "$work/src")"
echo "ok: dpkg-buildpackage built ${deb##*/} in $(($(date +%s) - start)) s"
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|')
want=(/usr/bin/bitlib /lib/systemd/system/bitlib-tracker.service /lib/systemd/system/bitlib-seed@.service
  /usr/share/bash-completion/completions/bitlib "/usr/share/modulefiles/bitlib/$V" "/usr/share/modulefiles/bitlib/$V.lua"
  /etc/bitlib/tracker.conf /etc/bitlib/seed/ /usr/share/doc/bitlib/copyright
  /usr/share/doc/bitlib/examples/etc/bitlib/seed/site.conf)
for p in docs/man/*.1; do want+=("/usr/share/man/man1/${p##*/}.gz"); done
for f in $(make -s -f Makefile -f <(printf 'print-pkglib: ; @echo $(PKGLIB_FILES)\n') print-pkglib); do
  want+=("/usr/lib/bitlib/${f##*/}")
done
for f in src/audit/python/*.py; do want+=("/usr/lib/bitlib/python/${f##*/}"); done   # the import hook
for f in "${want[@]}"; do grep -qxF -- "$f" <<<"$contents" || fail "the package lacks $f"; done
echo "ok: the package holds the binary, ${#want[@]} files checked"

# 3. install
exec 9>/run/lock/bitlib-t_pkg_deb.lock
flock -w 600 9 || fail "another t_pkg_deb holds /run/lock/bitlib-t_pkg_deb.lock"
if dpkg-query -W -f='${Status}' bitlib 2>/dev/null | grep -q 'ok installed'; then
  echo "SKIP: a bitlib package ($(dpkg-query -W -f='${Version}' bitlib)) is installed already; not touching it"
  exit 77
fi
getent passwd bitlib >/dev/null || made_user=1
installed=1
"${APT[@]}" install -y -qq --no-install-recommends "$deb" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "apt-get install ${deb##*/}"; }
[[ $(dpkg-query -W -f='${Status} ${Version}' bitlib) == "install ok installed $V" ]] || fail "dpkg does not list bitlib $V as installed"
[[ $(/usr/bin/bitlib --version) == "bitlib $V" ]] || fail "/usr/bin/bitlib --version says '$(/usr/bin/bitlib --version)'"
for p in docs/man/*.1; do
  name=${p##*/}
  name=${name%.1}
  [[ $(man -w "$name") == "/usr/share/man/man1/$name.1.gz" ]] || fail "man -w $name: $(man -w "$name" 2>&1)"
  warn=$(MANWIDTH=80 man --warnings "$name" 2>&1 >/dev/null)
  [[ -z $warn ]] || fail "man $name: $warn"
done
MANWIDTH=80 man bitlib-mount 2>/dev/null | grep -q -- '--read-timeout' || fail "man bitlib-mount does not show the page"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd bitlib) || fail "the postinst made no user bitlib"
((uid < 1000)) || fail "bitlib is not a system user (uid $uid)"
[[ $home == /nonexistent && $shell == /usr/sbin/nologin ]] || fail "the bitlib user has home $home and shell $shell"
getent group bitlib >/dev/null || fail "no group bitlib"
out=$(systemd-analyze verify /lib/systemd/system/bitlib-tracker.service /lib/systemd/system/bitlib-seed@.service 2>&1) ||
  fail "systemd-analyze verify on the installed units: $out"
[[ -z $out ]] || fail "systemd-analyze verify on the installed units: $out"
ls /etc/systemd/system/*.wants/bitlib-* 2>/dev/null && fail "the package enabled a unit"
dpkg-query -W -f='${Conffiles}' bitlib | grep -q '/etc/bitlib/tracker.conf' || fail "/etc/bitlib/tracker.conf is not a conffile"
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
  got=$(bash -c 'source /usr/share/bash-completion/bash_completion; __load_completion bitlib && complete -p bitlib')
  [[ $got == "complete -F _bitlib bitlib" ]] || fail "bash-completion does not load bitlib's completion: $got"
fi
mkdir -p "$work/set/lib" && echo data >"$work/set/lib/libx.so"
/usr/bin/bitlib create -q -o "$work/set.torrent" "$work/set" || fail "/usr/bin/bitlib create"
/usr/bin/bitlib inspect --json "$work/set.torrent" | grep -q '"name":"set"' || fail "/usr/bin/bitlib inspect"
echo "ok: installed: bitlib $V runs, $(ls docs/man/*.1 | wc -l) man pages, user bitlib (uid $uid), units verified and disabled"

# 4. remove
"${APT[@]}" purge -y -qq bitlib >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "apt-get purge bitlib"; }
installed=0
dpkg-query -W -f='${Status}' bitlib 2>/dev/null | grep -q 'ok installed' && fail "bitlib is still installed after purge"
for f in /usr/bin/bitlib /usr/share/man/man1/bitlib-mount.1.gz /lib/systemd/system/bitlib-tracker.service /etc/bitlib/tracker.conf; do
  [[ -e $f ]] && fail "$f is left after purge"
done
if ((made_user)); then
  userdel bitlib && { getent group bitlib >/dev/null && groupdel bitlib; true; } || fail "could not remove the bitlib user"
  made_user=0
fi
echo "ok: apt-get purge removed the package; the bitlib user this test caused is removed"
