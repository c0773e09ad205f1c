#!/bin/bash
# The man pages (docs/man/*.1) against the binary:
#  - every page renders with `man -l` without a warning (MANWIDTH=80 man --warnings);
#  - every command `bitlib --help` lists has docs/man/bitlib-CMD.1, named so in
#    its .TH line, and bitlib(1) refers to it as bitlib-CMD(1);
#  - every long option `bitlib CMD --help` defines (in its usage lines and its
#    option table; a mention in the prose is not counted) (and, for each subcommand
#    its usage lines name, `bitlib CMD SUB --help`) appears in that page, and so
#    does the subcommand's name; bitlib(1) has the options of `bitlib --help`;
#  - no page documents a command that does not exist.
# So a command merged without a page, or an option without documentation,
# fails here, naming the page and the option.  The checker is first run on a
# damaged copy of the pages, where it must report exactly the damage.
set -uo pipefail
cd "$(dirname "$0")/../.."
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
command -v man >/dev/null || { echo "SKIP: man (man-db) missing; run scripts/deps"; exit 77; }
[[ -x $BITLIB ]] || { echo "FAIL: $BITLIB not built"; exit 1; }
export LC_ALL=C.UTF-8
work=$(mktemp -d /tmp/t_docs_man.XXXXXX)
trap 'rm -rf -- "$work"' EXIT

# the text of page $1 as a reader sees it, in ASCII (hyphens and minus signs
# alike become '-'), on lines long enough that nothing is broken or hyphenated
page_text() { LC_ALL=C MANWIDTH=1000 man -l "$1" 2>/dev/null | col -bx; }
# the long options a help text (stdin) defines, each once: every --word of its
# usage lines, and the option that starts each line of an option table
# ("  -l, --listen ADDR:PORT  ..."); a --word in the prose is not one
long_options() {
  awk '/^usage: / {u = 1} /^[ \t]*$/ {u = 0}
       u {s = $0; while (match(s, /--[a-z0-9][a-z0-9-]*/)) { print substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) } next}
       /^[ \t]+(-[A-Za-z0-9], )?--[a-z0-9]/ {sub(/^[ \t]+(-[A-Za-z0-9], )?/, ""); sub(/[ =\[].*/, ""); print}' | sort -u
}
mentions() {  # TEXTFILE WORD: WORD appears as a whole word (hyphens included)
  grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|\$)" "$1"
}

# check_pages MANDIR: one line per problem on stdout
check_pages() {
  local dir=$1 page cmd sub opt help text
  local -a cmds subs
  for page in "$dir"/*.1; do
    local warn
    warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [[ -z $warn ]] || echo "$page: man --warnings: $(tr '\n' ' ' <<<"$warn")"
  done
  help=$("$BITLIB" --help) || { echo "bitlib --help exited $?"; return; }
  mapfile -t cmds < <(awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} {on = 0}' <<<"$help")
  ((${#cmds[@]})) || { echo "bitlib --help lists no commands under 'commands:'"; return; }
  if [[ ! -f $dir/bitlib.1 ]]; then
    echo "$dir/bitlib.1 is missing"
  else
    page_text "$dir/bitlib.1" >"$work/bitlib.txt"
    for opt in $(long_options <<<"$help"); do
      mentions "$work/bitlib.txt" "$opt" || echo "$dir/bitlib.1 does not mention $opt (printed by bitlib --help)"
    done
    for cmd in "${cmds[@]}"; do
      grep -qF "bitlib-$cmd(1)" "$work/bitlib.txt" ||
        echo "$dir/bitlib.1 does not refer to bitlib-$cmd(1) (bitlib --help lists '$cmd')"
    done
  fi
  for cmd in "${cmds[@]}"; do
    page=$dir/bitlib-$cmd.1
    if [[ ! -f $page ]]; then
      echo "$page is missing (bitlib --help lists '$cmd')"
      continue
    fi
    text=$work/$cmd.txt
    page_text "$page" >"$text"
    local upper=${cmd^^}
    head -n 3 "$text" | grep -qF "BITLIB-$upper(1)" ||
      echo "$page: its .TH line does not name BITLIB-$upper, section 1"
    help=$("$BITLIB" "$cmd" --help </dev/null 2>&1)
    local rc=$?
    if ((rc != 0)) || [[ -z $help ]]; then
      echo "bitlib $cmd --help exited $rc (every command needs a --help that exits 0)"
      continue
    fi
    for opt in $(long_options <<<"$help"); do
      mentions "$text" "$opt" || echo "$page does not mention $opt (printed by bitlib $cmd --help)"
    done
    mapfile -t subs < <(sed -nE "s/^usage: bitlib $cmd ([a-z][a-z0-9-]*)( .*)?\$/\\1/p" <<<"$help" | sort -u)
    for sub in "${subs[@]}"; do
      mentions "$text" "$sub" || echo "$page does not mention the subcommand '$sub' (bitlib $cmd --help has 'usage: bitlib $cmd $sub')"
      help=$(cd "$work" && timeout 10 "$BITLIB" "$cmd" "$sub" --help </dev/null 2>&1)
      rc=$?
      if ((rc != 0)); then
        echo "bitlib $cmd $sub --help exited $rc (every subcommand needs a --help that exits 0)"
        continue
      fi
      for opt in $(long_options <<<"$help"); do
        mentions "$text" "$opt" || echo "$page does not mention $opt (printed by bitlib $cmd $sub --help)"
      done
    done
  done
  for page in "$dir"/bitlib-*.1; do
    cmd=${page##*/bitlib-}
    cmd=${cmd%.1}
    printf '%s\n' "${cmds[@]}" | grep -qxF "$cmd" ||
      echo "$page documents '$cmd', which bitlib --help does not list"
  done
}

# 1. the checker sees damage: a page gone, an option and a reference dropped,
# a bad macro, a page for no command.  What it reports on the damaged copy
# beyond what it reports on an intact copy must be exactly the damage (so this
# holds even while the real pages fall short, and part 2 then says how).
mkdir "$work/intact" "$work/damaged"
cp docs/man/*.1 "$work/intact/"
cp docs/man/*.1 "$work/damaged/"
rm "$work/damaged/bitlib-status.1"
sed -i 's/\\-\\-read\\-timeout/\\-\\-read\\-limit/g' "$work/damaged/bitlib-mount.1"
sed -i 's/^\.BR bitlib\\-seed (1)/.BR bitlib\\-sow (1)/' "$work/damaged/bitlib.1"
printf '.frobnicate\n' >>"$work/damaged/bitlib-inspect.1"
cp docs/man/bitlib-seed.1 "$work/damaged/bitlib-sow.1"
check_pages "$work/intact" | sed "s|$work/intact/|DIR/|g" | sort >"$work/intact.out"
check_pages "$work/damaged" | sed "s|$work/damaged/|DIR/|g" | sort >"$work/damaged.out"
comm -13 "$work/intact.out" "$work/damaged.out" >"$work/damage.out"
expected=(
  "DIR/bitlib-status.1 is missing (bitlib --help lists 'status')"
  "DIR/bitlib-mount.1 does not mention --read-timeout (printed by bitlib mount --help)"
  "DIR/bitlib.1 does not refer to bitlib-seed(1) (bitlib --help lists 'seed')"
  "DIR/bitlib-inspect.1: man --warnings: "
  "DIR/bitlib-sow.1 documents 'sow', which bitlib --help does not list"
)
bad=0
for e in "${expected[@]}"; do
  grep -qF -- "$e" "$work/damage.out" || { echo "FAIL: the checker did not report: $e"; bad=1; }
done
n=$(wc -l <"$work/damage.out")
((n == ${#expected[@]})) || { echo "FAIL: the checker reported more than the damage"; bad=1; }
if ((bad)); then echo "what the damage added to the checker's report:"; cat "$work/damage.out"; exit 1; fi
echo "ok: the checker reports a missing page, option, reference, warning and stray page"

# 2. the real pages
if [[ -s $work/intact.out ]]; then
  sed 's|^DIR/|FAIL: docs/man/|; t; s/^/FAIL: /' "$work/intact.out"
  exit 1
fi
echo "ok: $(ls docs/man/*.1 | wc -l) pages render without warnings and document every command and option"
