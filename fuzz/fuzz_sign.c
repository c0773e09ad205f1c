/* libFuzzer target: description files with signatures (meta/sign.h).
 *
 * Every input goes through bl_sign_read and, when it parses as a
 * description, through bl_trust_check against a fixed trusted key (made
 * once at start).  Then the input is signed with that key: the result must
 * parse, keep the info-hash and every job field, and pass the check; a
 * second signing must give the same bytes (the splice replaces the block,
 * Ed25519 is deterministic).  Error messages must be one line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/metainfo.h"
#include "meta/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bl_signkey *key;
static bl_trust trust;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_sign: %s\n", what);
    abort();
}

static void setup(void)
{
    char dir[] = "/tmp/fuzz_sign.XXXXXX", k[128], pub[160], fpr[BL_SIGN_FPR_LEN];
    bl_err err;
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(k, sizeof k, "%s/k", dir);
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    if (bl_sign_keygen(k, fpr, &err) < 0 || !(key = bl_signkey_load(k, &err)))
        die(err.msg);
    bl_trust_init(&trust);
    if (bl_trust_add(&trust, pub, &err) < 0)
        die(err.msg);
    unlink(k);
    unlink(pub);
    rmdir(dir);
}

static int parse(bl_metainfo *mi, const uint8_t *data, size_t size, bl_err *err)
{
    uint8_t *raw = malloc(size ? size : 1);
    if (!raw)
        die("out of memory");
    if (size)
        memcpy(raw, data, size);
    return bl_metainfo_parse(mi, raw, size, err);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key)
        setup();
    bl_sigblock sb;
    uint8_t jd[BL_SIGN_DIGEST_LEN];
    bl_err err = {.msg = ""};
    if (bl_sign_read(data, size, &sb, jd, &err) < 0 && strchr(err.msg, '\n'))
        die("bl_sign_read: message with a newline");
    bl_metainfo mi;
    if (parse(&mi, data, size, &err) < 0)
        return 0;
    enum bl_trust_result why;
    if (bl_trust_check(&trust, &mi, &why, &err) < 0 && (strchr(err.msg, '\n') || why == BL_TRUST_OK))
        die("refusal without a reason or a one-line message");
    bl_buf s1, s2;
    bl_buf_init(&s1);
    bl_buf_init(&s2);
    if (bl_sign_desc(mi.raw, mi.raw_len, key, &s1, &err) < 0)
        die("a description that parses could not be signed");
    bl_metainfo si;
    if (parse(&si, s1.data, s1.len, &err) < 0)
        die("a signed description does not parse");
    if (memcmp(si.info_hash, mi.info_hash, 20) || !same_str(si.mount, mi.mount) ||
        si.num_prefetch != mi.num_prefetch || si.num_env != mi.num_env ||
        si.num_tiers != mi.num_tiers || !same_str(si.comment, mi.comment))
        die("signing changed the description");
    if (bl_trust_check(&trust, &si, &why, &err) < 0)
        die("a description just signed fails the check");
    if (bl_sign_desc(si.raw, si.raw_len, key, &s2, &err) < 0 || s1.len != s2.len ||
        memcmp(s1.data, s2.data, s1.len))
        die("re-signing is not idempotent");
    bl_metainfo_free(&si);
    bl_metainfo_free(&mi);
    bl_buf_free(&s1);
    bl_buf_free(&s2);
    return 0;
}
