/* rs: Reed-Solomon stripes on ISA-L (see rs.h).  The encode matrix is the
 * systematic Cauchy matrix of ISA-L: the identity on top (data chunks are
 * stored as they are), Cauchy rows below for parity. */
#include "offload/rs.h"

#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

struct bl_rs {
    unsigned k, m;
    uint8_t *matrix;   /* m x k */
    uint8_t *tables;   /* parity rows expanded: k * (m-k) * 32 */
};

bl_rs *bl_rs_new(unsigned k, unsigned m, bl_err *err)
{
    if (k < 1 || m < k || m > BL_RS_MAX_M) {
        bl_fail(err, "erasure code %u:%u: need 1 <= K <= M <= %d", k, m, BL_RS_MAX_M);
        return NULL;
    }
    bl_rs *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->matrix = malloc((size_t)m * k)) ||
        !(rs->tables = malloc((size_t)k * (m - k) * 32 + 1))) {
        bl_rs_free(rs);
        bl_fail(err, "erasure code: out of memory");
        return NULL;
    }
    rs->k = k;
    rs->m = m;
    gf_gen_cauchy1_matrix(rs->matrix, (int)m, (int)k);
    if (m > k)
        ec_init_tables((int)k, (int)(m - k), rs->matrix + (size_t)k * k, rs->tables);
    return rs;
}

void bl_rs_free(bl_rs *rs)
{
    if (!rs)
        return;
    free(rs->matrix);
    free(rs->tables);
    free(rs);
}

unsigned bl_rs_k(const bl_rs *rs) { return rs->k; }
unsigned bl_rs_m(const bl_rs *rs) { return rs->m; }

int bl_rs_parse(const char *s, unsigned *k, unsigned *m, bl_err *err)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != ':')
        return bl_fail(err, "erasure code '%s': expected K:M, e.g. 4:5", s);
    const char *p = end + 1;
    unsigned long b = strtoul(p, &end, 10);
    if (end == p || *end || a < 1 || b < a || b > BL_RS_MAX_M)
        return bl_fail(err, "erasure code '%s': need 1 <= K <= M <= %d", s, BL_RS_MAX_M);
    *k = (unsigned)a;
    *m = (unsigned)b;
    return 0;
}

void bl_rs_encode(const bl_rs *rs, size_t len, const uint8_t *const *data, uint8_t *const *parity)
{
    if (rs->m == rs->k || len == 0)
        return;
    /* ISA-L's prototypes are not const-qualified; it only reads data */
    ec_encode_data((int)len, (int)rs->k, (int)(rs->m - rs->k), rs->tables,
                   (unsigned char **)(uintptr_t)data, (unsigned char **)(uintptr_t)parity);
}

int bl_rs_decode(const bl_rs *rs, size_t len, uint8_t *const *chunks, const uint8_t *present,
                 bl_err *err)
{
    unsigned k = rs->k, m = rs->m;
    unsigned src[BL_RS_MAX_M], lost[BL_RS_MAX_M];
    unsigned nsrc = 0, nlost = 0;
    for (unsigned i = 0; i < m && nsrc < k; i++)
        if (present[i])
            src[nsrc++] = i;
    for (unsigned i = 0; i < k; i++)
        if (!present[i])
            lost[nlost++] = i;
    if (nsrc < k)
        return bl_fail(err, "stripe: only %u of the %u chunks needed are present", nsrc, k);
    if (nlost == 0 || len == 0)
        return 0;

    /* rows of the encode matrix for the chunks we have, inverted, give the
     * data back; the rows of the inverse for the lost data chunks are the
     * decode matrix */
    uint8_t *b = malloc((size_t)k * k), *inv = malloc((size_t)k * k),
            *dm = malloc((size_t)k * nlost), *tbl = malloc((size_t)k * nlost * 32);
    int rc = -1;
    if (!b || !inv || !dm || !tbl) {
        bl_fail(err, "stripe decode: out of memory");
        goto out;
    }
    for (unsigned r = 0; r < k; r++)
        memcpy(b + (size_t)r * k, rs->matrix + (size_t)src[r] * k, k);
    if (gf_invert_matrix(b, inv, (int)k) < 0) {
        bl_fail(err, "stripe decode: singular matrix (bug)");
        goto out;
    }
    for (unsigned j = 0; j < nlost; j++)
        memcpy(dm + (size_t)j * k, inv + (size_t)lost[j] * k, k);
    ec_init_tables((int)k, (int)nlost, dm, tbl);
    unsigned char *in[BL_RS_MAX_M], *outp[BL_RS_MAX_M];
    for (unsigned r = 0; r < k; r++)
        in[r] = chunks[src[r]];
    for (unsigned j = 0; j < nlost; j++)
        outp[j] = chunks[lost[j]];
    ec_encode_data((int)len, (int)k, (int)nlost, tbl, in, outp);
    rc = 0;
out:
    free(b);
    free(inv);
    free(dm);
    free(tbl);
    return rc;
}
