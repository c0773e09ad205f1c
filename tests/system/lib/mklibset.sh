#!/usr/bin/env bash
# mklibset.sh OUTDIR: build a small, realistic program + shared-library set.
#
#   OUTDIR/bin/app                 RUNPATH $ORIGIN/../lib, needs libalpha.so.1
#   OUTDIR/lib/libalpha.so         -> libalpha.so.1 -> libalpha.so.1.0.0
#   OUTDIR/lib/libalpha.so.1.0.0   SONAME libalpha.so.1, RUNPATH $ORIGIN, needs libbeta.so
#   OUTDIR/lib/libbeta.so          RPATH $ORIGIN/sub (DT_RPATH), needs libgamma.so
#   OUTDIR/lib/sub/libgamma.so     no search path of its own, needs libdelta.so
#   OUTDIR/lib/sub/libdelta.so     found through beta's RPATH, inherited by gamma
#   OUTDIR/lib/libunused.so        needed by nothing (must never be prefetched)
#
# Running OUTDIR/bin/app prints "libset ok: alpha beta gamma delta" and exits 0
# only if every library was loaded.  Needs gcc; takes about a second.
set -euo pipefail
out=${1:?usage: mklibset.sh OUTDIR}
cc=${CC_FOR_LIBSET:-gcc}
mkdir -p "$out/bin" "$out/lib/sub" "$out/src"
src="$out/src"

cat >"$src/delta.c" <<'C'
const char *delta_name(void) { return "delta"; }
C
cat >"$src/gamma.c" <<'C'
#include <stdio.h>
const char *delta_name(void);
int gamma_fill(char *out, int n) { return snprintf(out, (size_t)n, "gamma %s", delta_name()); }
C
cat >"$src/beta.c" <<'C'
#include <stdio.h>
int gamma_fill(char *out, int n);
int beta_fill(char *out, int n)
{
    int k = snprintf(out, (size_t)n, "beta ");
    return k + gamma_fill(out + k, n - k);
}
C
cat >"$src/alpha.c" <<'C'
#include <stdio.h>
int beta_fill(char *out, int n);
int alpha_fill(char *out, int n)
{
    int k = snprintf(out, (size_t)n, "alpha ");
    return k + beta_fill(out + k, n - k);
}
C
cat >"$src/unused.c" <<'C'
int unused_value(void) { return 42; }
C
cat >"$src/app.c" <<'C'
#include <stdio.h>
int alpha_fill(char *out, int n);
int main(void)
{
    char line[128];
    alpha_fill(line, (int)sizeof line);
    printf("libset ok: %s\n", line);
    return 0;
}
C

L="$out/lib"
so() { "$cc" -shared -fPIC -O1 "$@"; }
so -o "$L/sub/libdelta.so" -Wl,-soname,libdelta.so "$src/delta.c"
so -o "$L/sub/libgamma.so" -Wl,-soname,libgamma.so "$src/gamma.c" -L"$L/sub" -ldelta
so -o "$L/libbeta.so" -Wl,-soname,libbeta.so -Wl,--disable-new-dtags -Wl,-rpath,'$ORIGIN/sub' \
   "$src/beta.c" -L"$L/sub" -lgamma -Wl,-rpath-link,"$L/sub"
so -o "$L/libalpha.so.1.0.0" -Wl,-soname,libalpha.so.1 -Wl,--enable-new-dtags -Wl,-rpath,'$ORIGIN' \
   "$src/alpha.c" -L"$L" -lbeta -Wl,-rpath-link,"$L/sub"
ln -sfn libalpha.so.1.0.0 "$L/libalpha.so.1"
ln -sfn libalpha.so.1 "$L/libalpha.so"
so -o "$L/libunused.so" -Wl,-soname,libunused.so "$src/unused.c"
"$cc" -O1 -o "$out/bin/app" "$src/app.c" -L"$L" -lalpha -Wl,--enable-new-dtags \
   -Wl,-rpath,'$ORIGIN/../lib' -Wl,-rpath-link,"$L:$L/sub"
rm -rf "$src"
