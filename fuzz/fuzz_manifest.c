/* libFuzzer target: offload manifests (offload/manifest.h), which users
 * carry between sites and bitlib offload pull and status read.
 *
 * Each input is parsed without a key and with one.  Checks: a parsed
 * manifest's numbers agree (stripes for the total, chunks listed for every
 * stripe, depot indexes in range, file lengths adding up to the total,
 * names one safe path component), and a manifest encoded again under the
 * key parses back with that key to the same layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "offload/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void invariants(const bl_manifest *mf)
{
    check(mf->k >= 1 && mf->k <= mf->m && mf->replicas >= 1 && mf->chunk >= 1);
    check(mf->nstripes == bl_mf_stripes(mf->total, mf->k, mf->chunk));
    check(mf->ndepots >= 1 && mf->ndepots <= BL_MF_MAX_DEPOTS);
    uint64_t sum = 0;
    for (size_t i = 0; i < mf->nfiles; i++) {
        const char *n = mf->files[i].name;
        check(n && *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..") &&
              strlen(n) <= BL_MF_MAX_NAME);
        sum += mf->files[i].length;
    }
    check(sum == mf->total);
    for (uint64_t c = 0; c < mf->nstripes * mf->m; c++) {
        check(mf->chunks[c].nat <= BL_MF_MAX_AT);
        for (unsigned a = 0; a < mf->chunks[c].nat; a++)
            check(mf->chunks[c].at[a] < mf->ndepots);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bl_okey key = {.bytes = "fuzz-key-0123456789abcdef", .len = 25};
    bl_manifest mf, again;
    bl_err err;
    if (bl_mf_parse(data, size, &key, &mf, &err) == 0) {
        invariants(&mf);
        bl_mf_free(&mf);
    }
    if (bl_mf_parse(data, size, NULL, &mf, &err) < 0)
        return 0;
    invariants(&mf);
    bl_buf b;
    bl_buf_init(&b);
    bl_mf_encode(&mf, &key, &b);
    check(!b.oom);
    check(bl_mf_parse(b.data, b.len, &key, &again, &err) == 0);
    check(again.k == mf.k && again.m == mf.m && again.total == mf.total &&
          again.nstripes == mf.nstripes && again.nfiles == mf.nfiles && again.ndepots == mf.ndepots &&
          !memcmp(again.id, mf.id, sizeof mf.id));
    for (uint64_t c = 0; c < mf.nstripes * mf.m; c++)
        check(again.chunks[c].nat == mf.chunks[c].nat &&
              !memcmp(again.chunks[c].sha, mf.chunks[c].sha, BL_SHA256_LEN));
    bl_mf_free(&again);
    bl_buf_free(&b);
    bl_mf_free(&mf);
    return 0;
}
