#!/bin/bash
# The systemd units as `make install` writes them:
#  - `systemd-analyze verify` passes, silently, on bitlib-tracker.service,
#    the template bitlib-seed@.service and an instance of it (their ExecStart
#    binary and Documentation= man pages exist under PREFIX); it fails on a
#    copy with a missing binary and speaks up on a misspelt directive, so the
#    check can fail;
#  - `systemd-analyze security --offline` rates each unit's exposure at most
#    2.0 ("OK"; --threshold counts tenths; an unhardened service scores 9.6);
#  - the command lines the units run, expanded from example configuration
#    files the way systemd expands them (Environment= defaults, then
#    EnvironmentFile=; ${VAR} one word, $VAR split at spaces), run as an
#    unprivileged user with no new privileges (as User= and NoNewPrivileges=
#    would), in a clean environment: the tracker and a seeder serve a set that
#    `bitlib fetch` then downloads through that tracker alone; the tracker
#    survives ExecReload's SIGHUP; both exit 0 on SIGTERM (systemd's stop); a
#    misspelt option in OPTIONS makes the seeder exit 2, which the unit's
#    RestartPreventExitStatus=2 does not restart.
# systemd need not be PID 1 for any of this; the hardening itself (namespaces,
# seccomp) is applied only by a running systemd and is not exercised here.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze missing; run scripts/deps"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) missing"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (to run the daemons as another user)"; exit 77; }
work=$(mktemp -d /tmp/t_pkg_systemd.XXXXXX)
chmod 755 "$work"   # the unprivileged daemons read below it
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf -- "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done
  exit 1
}
P=$work/usr ETC=$work/etc
make -s install PREFIX="$P" SYSCONFDIR="$ETC" >"$work/install.log" 2>&1 || fail "make install"
U=$P/lib/systemd/system
export MANPATH=$P/share/man  # verify checks Documentation=man:... pages
ln -s bitlib-seed@.service "$U/bitlib-seed@site.service"

# 1. verify, silently; and a broken copy is caught
for unit in bitlib-tracker.service bitlib-seed@.service bitlib-seed@site.service; do
  out=$(systemd-analyze verify "$U/$unit" 2>&1)
  rc=$?
  ((rc == 0)) && [[ -z $out ]] || fail "systemd-analyze verify $unit (exit $rc): $out"
done
mkdir "$work/broken"
sed 's|^ExecStart=[^ ]*|ExecStart=/nonexistent/bitlib|' "$U/bitlib-tracker.service" >"$work/broken/bitlib-tracker.service"
systemd-analyze verify "$work/broken/bitlib-tracker.service" >/dev/null 2>&1 && fail "verify accepted a unit whose binary does not exist"
sed 's|^ProtectSystem=|ProtectSystm=|' "$U/bitlib-tracker.service" >"$work/broken/bitlib-typo.service"
[[ -n $(systemd-analyze verify "$work/broken/bitlib-typo.service" 2>&1) ]] || fail "verify said nothing about a misspelt directive"
echo "ok: systemd-analyze verify passes on both units and an instance, and catches a broken copy"

# 2. exposure
for unit in bitlib-tracker.service bitlib-seed@site.service; do
  out=$(systemd-analyze security --offline=true --threshold=20 "$U/$unit" 2>&1)
  rc=$?
  level=$(grep -o 'Overall exposure level for [^:]*: [0-9.]* [A-Z]*' <<<"$out")
  ((rc == 0)) || fail "$unit: exposure above 2.0: ${level:-$out}"
  echo "ok: $level"
done

# 3. the units' command lines, expanded as systemd would
# unit_argv UNIT CONF INSTANCE: the ExecStart argv, one word per line
unit_argv() {
  local unit=$1 conf=$2 inst=$3 line k v w
  declare -A env=()
  while IFS= read -r line; do
    [[ $line == Environment=* ]] || continue
    line=${line#Environment=}
    env[${line%%=*}]=${line#*=}
  done <"$unit"
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || { echo "bad line in $conf: $line" >&2; return 1; }
    env[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done <"$conf"
  line=$(sed -n 's/^ExecStart=//p' "$unit")
  line=${line//%i/$inst}
  for w in $line; do
    if [[ $w =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ ]]; then printf '%s\n' "${env[${BASH_REMATCH[1]}]-}"
    elif [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
      for v in ${env[${BASH_REMATCH[1]}]-}; do printf '%s\n' "$v"; done
    elif [[ $w == *'$'* || $w == *%* ]]; then echo "unit_argv cannot expand '$w' in $unit" >&2; return 1
    else printf '%s\n' "$w"; fi
  done
}
# as_unit LOG ARGV...: run in the background like User=nobody, NoNewPrivileges=yes
as_unit() {
  local log=$1
  shift
  (cd / && exec env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
    setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "$@") >"$log" 2>&1 &
  pids+=($!)
}

mkdir -p "$ETC/bitlib/seed" "$work/data/lib"
head -c 300000 /dev/urandom >"$work/data/lib/libone.so"
head -c 70000 /dev/urandom >"$work/data/lib/libtwo.so"
echo "hello" >"$work/data/README"
chmod -R a+rX,go-w "$work/data"
# the installed examples, with this test's addresses (port 0: a free one)
sed -i "s|^LISTEN=.*|LISTEN=127.0.0.1:0|" "$ETC/bitlib/tracker.conf"
sed -e "s|^DESC=.*|DESC=$work/set.torrent|" -e "s|^DATA=.*|DATA=$work/data|" \
    -e "s|^LISTEN=.*|LISTEN=127.0.0.1:0|" -e "s|^OPTIONS=.*|OPTIONS=--policy cooperative|" \
    "$P/share/doc/bitlib/examples/etc/bitlib/seed/site.conf" >"$ETC/bitlib/seed/site.conf"

mapfile -t targv < <(unit_argv "$U/bitlib-tracker.service" "$ETC/bitlib/tracker.conf" "") || fail "expanding the tracker unit"
mapfile -t sargv < <(unit_argv "$U/bitlib-seed@.service" "$ETC/bitlib/seed/site.conf" site) || fail "expanding the seeder unit"
echo "tracker: ${targv[*]}"
echo "seeder:  ${sargv[*]}"
[[ ${targv[*]} == "$P/bin/bitlib tracker --listen 127.0.0.1:0" ]] ||
  fail "the tracker unit's command line is not what the configuration says"
[[ ${sargv[*]} == "$P/bin/bitlib seed --listen 127.0.0.1:0 --policy cooperative $work/set.torrent $work/data" ]] ||
  fail "the seeder unit's command line is not what the configuration says"

as_unit "$work/tracker.log" "${targv[@]}"
tpid=${pids[-1]}
announce=
for _ in $(seq 100); do
  announce=$(grep -o 'http://127\.0\.0\.1:[0-9]*/announce' "$work/tracker.log" | head -1)
  [[ -n $announce ]] && break
  sleep 0.1
done
[[ -n $announce ]] || fail "the tracker logged no address"
"$P/bin/bitlib" create -q -o "$work/set.torrent" --tracker "$announce" "$work/data" || fail "bitlib create"
chmod 644 "$work/set.torrent"
as_unit "$work/seed.log" "${sargv[@]}"
spid=${pids[-1]}
# fetch once the tracker knows the seeder (the probe leaves again with --stop)
ih=$("$P/bin/bitlib" inspect --json "$work/set.torrent" | grep -o '"info_hash":"[0-9a-f]*"' | cut -d'"' -f4)
for _ in $(seq 50); do
  [[ -n $("$P/bin/bitlib" tracker probe --info-hash "$ih" --port 9 --stop --timeout 5 "$announce" 2>/dev/null) ]] && break
  sleep 0.1
done
[[ $(ps -o user= -p "$spid") == nobody ]] || fail "the seeder does not run as nobody"
timeout 60 "$P/bin/bitlib" fetch -q --stall-timeout 30 "$work/set.torrent" "$work/out" >"$work/fetch.log" 2>&1 ||
  fail "bitlib fetch through the unit-configured tracker and seeder"
diff -r "$work/data" "$work/out" >/dev/null || fail "the fetched set differs"
echo "ok: the tracker and seeder as the units run them serve a set to bitlib fetch"

kill -HUP "$tpid"   # ExecReload=
sleep 0.5
kill -0 "$tpid" 2>/dev/null || fail "the tracker died on SIGHUP (systemctl reload)"
for pid in "$spid" "$tpid"; do   # the seeder first, so the tracker hears it leave
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  ((rc == 0)) || fail "a daemon exited $rc on SIGTERM (systemctl stop), not 0"
done
pids=()
echo "ok: reload keeps the tracker; SIGTERM stops both with exit 0"

sed 's|^OPTIONS=.*|OPTIONS=--polcy stock|' "$ETC/bitlib/seed/site.conf" >"$ETC/bitlib/seed/typo.conf"
mapfile -t nargv < <(unit_argv "$U/bitlib-seed@.service" "$ETC/bitlib/seed/typo.conf" typo)
as_unit "$work/typo.log" "${nargv[@]}"
wait "${pids[-1]}"
rc=$?
((rc == 2)) || fail "a seeder configuration with a misspelt option exited $rc, not 2 (usage error)"
grep -qx 'RestartPreventExitStatus=2' "$U/bitlib-seed@.service" || fail "the seeder unit restarts on exit 2"
pids=()
echo "ok: a misspelt option in OPTIONS is a usage error (exit 2), which the unit does not restart: $(head -1 "$work/typo.log")"
