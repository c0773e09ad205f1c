#!/bin/bash
# Bash completion (dist/bash-completion/bitlib) against the binary: it offers
# exactly the commands `bitlib --help` lists, for every command (and
# subcommand) exactly the long options its --help defines, the values an option
# names ("hybrid, file, bulk or block"), and files, directories or description
# files where the usage line has FILE, DIR/MOUNTPOINT or DESC.  A stand-in
# binary with a command and an option no real one has shows that nothing is
# remembered: what --help prints is what completes.
set -uo pipefail
cd "$(dirname "$0")/../.."
BITLIB=$(realpath "${BITLIB:-build/bitlib}")
COMPLETION=$PWD/dist/bash-completion/bitlib
[[ -x $BITLIB ]] || { echo "FAIL: $BITLIB not built"; exit 1; }
work=$(mktemp -d /tmp/t_docs_completion.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# complete EXE WORD...: what completing the last WORD offers, sorted, one per line
complete_words() {
  (cd "$work/cwd" && bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
    _bitlib
    printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPLETION" "$@") | sed '/^$/d' | sort -u
}
# expect DESCRIPTION "EXPECTED WORDS" EXE WORD...
expect() {
  local what=$1 want got
  want=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u)
  shift 2
  got=$(complete_words "$@")
  [[ $got == "$want" ]] || fail "$what: completing '${*:2}' offered [$(echo $got)], expected [$(echo $want)]"
}
# long options a help text (stdin) defines: usage lines and option tables
long_options() {
  awk '/^usage: / {u = 1} /^[ \t]*$/ {u = 0}
       u {s = $0; while (match(s, /--[a-z0-9][a-z0-9-]*/)) { print substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) } next}
       /^[ \t]+(-[A-Za-z0-9], )?--[a-z0-9]/ {sub(/^[ \t]+(-[A-Za-z0-9], )?/, ""); sub(/[ =\[].*/, ""); print}' | sort -u
}

mkdir -p "$work/cwd/subdir"
touch "$work/cwd/set.torrent" "$work/cwd/notes.txt"

# commands
cmds=$("$BITLIB" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} {on = 0}')
[[ -n $cmds ]] || fail "bitlib --help lists no commands"
expect "commands" "$cmds" "$BITLIB" ""
expect "global options" "$("$BITLIB" --help | long_options)" "$BITLIB" "--"

# every command's and subcommand's options
for cmd in $cmds; do
  help=$("$BITLIB" "$cmd" --help 2>/dev/null)
  defined=$(long_options <<<"$help")
  offered=$(complete_words "$BITLIB" "$cmd" --)
  [[ -n $offered ]] || fail "bitlib $cmd --<TAB> offers nothing"
  subs=$(sed -nE "s/^usage: bitlib $cmd ([a-z][a-z0-9-]*)( .*)?\$/\\1/p" <<<"$help" | sort -u)
  all=$offered
  for sub in $subs; do
    got=$(complete_words "$BITLIB" "$cmd" "")
    grep -qxF "$sub" <<<"$got" || fail "bitlib $cmd <TAB> does not offer the subcommand $sub"
    sub_offered=$(complete_words "$BITLIB" "$cmd" "$sub" --)
    sub_defined=$("$BITLIB" "$cmd" "$sub" --help 2>/dev/null | sed -n "/^usage: bitlib $cmd $sub/,\$p" | long_options)
    extra=$(comm -23 <(echo "$sub_offered") <(echo "$sub_defined"))
    [[ -z $extra ]] || fail "bitlib $cmd $sub --<TAB> offers $(echo $extra), which bitlib $cmd $sub --help does not define"
    all=$(printf '%s\n%s\n' "$all" "$sub_offered" | sed '/^$/d' | sort -u)
    defined=$(printf '%s\n%s\n' "$defined" "$("$BITLIB" "$cmd" "$sub" --help 2>/dev/null | long_options)" | sed '/^$/d' | sort -u)
  done
  missing=$(comm -13 <(echo "$all") <(echo "$defined"))
  extra=$(comm -23 <(echo "$all") <(echo "$defined"))
  [[ -z $missing ]] || fail "bitlib $cmd: --help defines $(echo $missing), which completion does not offer"
  [[ -z $extra ]] || fail "bitlib $cmd: completion offers $(echo $extra), which --help does not define"
done
echo "ok: commands and every command's options complete as --help says ($(echo $cmds))"

# values and arguments
expect "--mode values" "hybrid file bulk block" "$BITLIB" mount --mode ""
expect "-m values" "bulk block" "$BITLIB" mount -m b
expect "--mode= values" "hybrid" "$BITLIB" mount --mode=h
expect "--policy values" "cooperative stock" "$BITLIB" seed --policy ""
expect "a cache is a directory" "subdir" "$BITLIB" mount --cache ""
expect "DESC: description files and directories" "set.torrent subdir" "$BITLIB" mount ""
expect "MOUNTPOINT: directories" "subdir" "$BITLIB" mount -m file set.torrent ""
expect "DIR after DESC, options skipped" "subdir" "$BITLIB" seed --listen 127.0.0.1:1 set.torrent ""
expect "inspect FILE" "notes.txt set.torrent subdir" "$BITLIB" inspect ""
expect "create -o FILE" "notes.txt set.torrent subdir" "$BITLIB" create -o ""
expect "a number completes nothing" "" "$BITLIB" create --threads ""
expect "tracker takes a subcommand, not files" "probe" "$BITLIB" tracker ""
expect "a command" "$(compgen -c -- bas | sort -u)" "$BITLIB" fetch --on-complete bas

# nothing remembered: a binary whose help has a command and an option no
# real bitlib has completes them
fake=$work/fakebitlib
cat >"$fake" <<'EOF'
#!/bin/sh
case "$1" in
--help) printf 'usage: bitlib <command>\n\ncommands:\n  frob       frobnicate a set\n  mount      mount\n\n' ;;
frob) printf 'usage: bitlib frob [options] DIR\n\n  --frob-level N     how hard\n  --style S          gentle or rough\n  -h, --help         this text\n' ;;
esac
EOF
chmod +x "$fake"
expect "a stand-in's commands" "frob mount" "$fake" ""
expect "a stand-in's options" "--frob-level --help --style" "$fake" frob --
expect "a stand-in's values" "gentle rough" "$fake" frob --style ""

((fails == 0)) || exit 1
echo "ok: values, files, directories, descriptions and a stand-in binary complete as their help says"
