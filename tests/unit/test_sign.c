/* Unit tests: signed descriptions (meta/sign): sign and verify, every kind of
 * tampering, wrong keys, re-signing, trusted-key files and directories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bencode.h"
#include "meta/metainfo.h"
#include "meta/sign.h"

static char tmpdir[64];
static char key1[128], key2[128], pub1[128], pub2[128];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/bl_test_sign_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(key1, sizeof key1, "%s/k1", tmpdir);
    snprintf(key2, sizeof key2, "%s/k2", tmpdir);
    snprintf(pub1, sizeof pub1, "%s/k1.pub", tmpdir);
    snprintf(pub2, sizeof pub2, "%s/k2.pub", tmpdir);
    char fpr[BL_SIGN_FPR_LEN];
    bl_err err;
    assert_int_equal(bl_sign_keygen(key1, fpr, &err), 0);
    assert_int_equal(bl_sign_keygen(key2, fpr, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* A small multi-file description; with_job adds a top-level bitlib dict. */
static void make_desc(bl_buf *b, bool with_job)
{
    static const uint8_t hashes[20] = {1, 2, 3};
    bl_buf_init(b);
    bl_benc_dict(b);
    bl_benc_cstr(b, "announce");
    bl_benc_cstr(b, "http://t.example:6969/announce");
    if (with_job) {
        bl_benc_cstr(b, "bitlib");
        bl_benc_dict(b);
        bl_benc_cstr(b, "mount");
        bl_benc_cstr(b, "/opt/xx");
        bl_benc_cstr(b, "prefetch");
        bl_benc_list(b);
        bl_benc_cstr(b, "a");
        bl_benc_end(b);
        bl_benc_end(b);
    }
    bl_benc_cstr(b, "comment");
    bl_benc_cstr(b, "zz");
    bl_benc_cstr(b, "info");
    bl_benc_dict(b);
    bl_benc_cstr(b, "files");
    bl_benc_list(b);
    bl_benc_dict(b);
    bl_benc_cstr(b, "length");
    bl_benc_int(b, 3);
    bl_benc_cstr(b, "path");
    bl_benc_list(b);
    bl_benc_cstr(b, "a");
    bl_benc_end(b);
    bl_benc_end(b);
    bl_benc_end(b);
    bl_benc_cstr(b, "name");
    bl_benc_cstr(b, "set");
    bl_benc_cstr(b, "piece length");
    bl_benc_int(b, 16384);
    bl_benc_cstr(b, "pieces");
    bl_benc_str(b, hashes, 20);
    bl_benc_end(b);
    bl_benc_end(b);
    assert_false(b->oom);
}

static void sign_with(const char *key, const bl_buf *in, bl_buf *out)
{
    bl_err err;
    bl_signkey *k = bl_signkey_load(key, &err);
    assert_non_null(k);
    bl_buf_init(out);
    assert_int_equal(bl_sign_desc(in->data, in->len, k, out, &err), 0);
    bl_signkey_free(k);
}

static void parse(const bl_buf *b, bl_metainfo *mi)
{
    uint8_t *raw = malloc(b->len);
    assert_non_null(raw);
    memcpy(raw, b->data, b->len);
    bl_err err;
    if (bl_metainfo_parse(mi, raw, b->len, &err) < 0)
        fail_msg("parse: %s", err.msg);
}

/* The trust check's verdict on b with the given trusted key files. */
static enum bl_trust_result check(const bl_buf *b, const char *pub, const char *pub_b, char *msg)
{
    bl_trust *t = malloc(sizeof *t);
    assert_non_null(t);
    bl_trust_init(t);
    bl_err err = {.msg = ""};
    if (pub)
        assert_int_equal(bl_trust_add(t, pub, &err), 0);
    if (pub_b)
        assert_int_equal(bl_trust_add(t, pub_b, &err), 0);
    bl_metainfo mi;
    parse(b, &mi);
    enum bl_trust_result why = 99;
    int rc = bl_trust_check(t, &mi, &why, &err);
    assert_int_equal(rc, why == BL_TRUST_OK ? 0 : -1);
    if (msg)
        strcpy(msg, err.msg);
    assert_null(strchr(err.msg, '\n'));
    bl_metainfo_free(&mi);
    free(t);
    return why;
}

static uint8_t *find(bl_buf *b, const char *s)
{
    uint8_t *p = memmem(b->data, b->len, s, strlen(s));
    assert_non_null(p);
    return p;
}

static void test_keygen_files(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(key1, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub1, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char fpr[BL_SIGN_FPR_LEN];
    bl_err err;
    assert_int_equal(bl_sign_keygen(key1, fpr, &err), -1); /* never overwritten */
    assert_non_null(strstr(err.msg, "never overwritten"));
    /* a private key readable by others is refused */
    char loose[160], cmd[400];
    snprintf(loose, sizeof loose, "%s/loose", tmpdir);
    snprintf(cmd, sizeof cmd, "cp %s %s && chmod 644 %s", key1, loose, loose);
    assert_int_equal(system(cmd), 0);
    assert_null(bl_signkey_load(loose, &err));
    assert_non_null(strstr(err.msg, "chmod 600"));
    /* a public key is not a private key, and the other way round */
    assert_null(bl_signkey_load(pub1, &err));
    bl_trust t;
    bl_trust_init(&t);
    assert_int_equal(bl_trust_add(&t, key1, &err), -1);
    assert_int_equal(t.n, 0);
}

static void test_sign_verify(void **state)
{
    (void)state;
    bl_buf d, s;
    make_desc(&d, true);
    sign_with(key1, &d, &s);
    bl_metainfo a, b;
    parse(&d, &a);
    parse(&s, &b);
    assert_memory_equal(a.info_hash, b.info_hash, 20); /* the info-hash stays */
    assert_string_equal(b.mount, "/opt/xx");
    assert_string_equal(b.comment, "zz");
    assert_int_equal(b.num_tiers, 1);
    bl_metainfo_free(&a);
    bl_metainfo_free(&b);
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_OK);
    assert_int_equal(check(&s, pub2, pub1, NULL), BL_TRUST_OK);
    /* canonical bencode with the block at its sorted place */
    bl_bdoc doc;
    bl_err err;
    assert_int_equal(bl_bdecode(&doc, s.data, s.len, NULL, &err), 0);
    bl_bdoc_free(&doc);
    /* no trusted keys: no requirement */
    assert_int_equal(check(&d, NULL, NULL, NULL), BL_TRUST_OK);
    bl_buf_free(&d);
    bl_buf_free(&s);
}

static void test_unsigned_and_wrong_key(void **state)
{
    (void)state;
    char msg[512];
    bl_buf d, s;
    make_desc(&d, true);
    assert_int_equal(check(&d, pub1, NULL, msg), BL_TRUST_UNSIGNED);
    assert_non_null(strstr(msg, "unsigned"));
    sign_with(key2, &d, &s);
    assert_int_equal(check(&s, pub1, NULL, msg), BL_TRUST_UNTRUSTED_KEY);
    assert_non_null(strstr(msg, "untrusted key ed25519:"));
    bl_buf_free(&d);
    bl_buf_free(&s);
}

static void test_tamper(void **state)
{
    (void)state;
    char msg[512];
    bl_buf d, s;
    make_desc(&d, true);
    sign_with(key1, &d, &s);
    /* the files (info dict): the name */
    find(&s, "4:name3:set")[10] = 'z';
    assert_int_equal(check(&s, pub1, NULL, msg), BL_TRUST_BAD_SIGNATURE);
    assert_non_null(strstr(msg, "files were altered"));
    find(&s, "4:name3:sez")[10] = 't';
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_OK);
    /* the per-job section: the mount point */
    find(&s, "/opt/xx")[6] = 'y';
    assert_int_equal(check(&s, pub1, NULL, msg), BL_TRUST_JOB_ALTERED);
    assert_non_null(strstr(msg, "per-job section altered"));
    find(&s, "/opt/xy")[6] = 'x';
    /* the signature itself */
    uint8_t *sig = find(&s, "9:signature64:") + 14;
    sig[10] ^= 1;
    assert_int_equal(check(&s, pub1, NULL, msg), BL_TRUST_BAD_SIGNATURE);
    assert_non_null(strstr(msg, "signature does not match"));
    sig[10] ^= 1;
    /* the signed-over info hash and job digest */
    uint8_t *ih = find(&s, "9:info hash20:") + 14;
    ih[0] ^= 1;
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_BAD_SIGNATURE);
    ih[0] ^= 1;
    uint8_t *jd = find(&s, "10:job digest32:") + 16;
    jd[31] ^= 0x80;
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_BAD_SIGNATURE);
    jd[31] ^= 0x80;
    /* the key swapped for another trusted one: the signature is not its own */
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_OK);
    bl_buf other;
    sign_with(key2, &d, &other);
    memcpy(find(&s, "3:key32:") + 8, find(&other, "3:key32:") + 8, 32);
    assert_int_equal(check(&s, pub1, pub2, NULL), BL_TRUST_BAD_SIGNATURE);
    /* a malformed block */
    find(&s, "7:ed25519")[2] = 'E';
    assert_int_equal(check(&s, pub1, NULL, msg), BL_TRUST_BAD_SIGNATURE);
    assert_non_null(strstr(msg, "algorithm"));
    bl_buf_free(&other);
    bl_buf_free(&d);
    bl_buf_free(&s);
}

static void test_job_added_after_signing(void **state)
{
    (void)state;
    bl_buf d, s, dj, sj, mixed;
    make_desc(&d, false);
    sign_with(key1, &d, &s);
    assert_int_equal(check(&s, pub1, NULL, NULL), BL_TRUST_OK);
    /* graft s's signature onto the same description with a job section */
    make_desc(&dj, true);
    sign_with(key1, &dj, &sj);
    bl_buf_init(&mixed);
    uint8_t *bs = find(&s, "16:bitlib signature"), *be = find(&s, "7:comment");
    uint8_t *js = find(&sj, "16:bitlib signature"), *je = find(&sj, "7:comment");
    bl_buf_put(&mixed, sj.data, (size_t)(js - sj.data));
    bl_buf_put(&mixed, bs, (size_t)(be - bs));
    bl_buf_put(&mixed, je, sj.len - (size_t)(je - sj.data));
    char msg[512];
    assert_int_equal(check(&mixed, pub1, NULL, msg), BL_TRUST_JOB_ALTERED);
    bl_buf_free(&d);
    bl_buf_free(&s);
    bl_buf_free(&dj);
    bl_buf_free(&sj);
    bl_buf_free(&mixed);
}

static void test_resign(void **state)
{
    (void)state;
    bl_buf d, s1, s2, s3;
    make_desc(&d, true);
    sign_with(key1, &d, &s1);
    sign_with(key2, &s1, &s2); /* replaces the signature */
    sign_with(key1, &s2, &s3);
    bl_metainfo a, b;
    parse(&d, &a);
    parse(&s2, &b);
    assert_memory_equal(a.info_hash, b.info_hash, 20);
    bl_metainfo_free(&a);
    bl_metainfo_free(&b);
    assert_int_equal(check(&s2, pub2, NULL, NULL), BL_TRUST_OK);
    assert_int_equal(check(&s2, pub1, NULL, NULL), BL_TRUST_UNTRUSTED_KEY);
    /* Ed25519 is deterministic: the same key gives the same bytes */
    assert_int_equal(s1.len, s3.len);
    assert_memory_equal(s1.data, s3.data, s1.len);
    bl_buf_free(&d);
    bl_buf_free(&s1);
    bl_buf_free(&s2);
    bl_buf_free(&s3);
}

static void test_trust_dirs(void **state)
{
    (void)state;
    char dir[160], cmd[600];
    bl_err err;
    bl_trust *t = malloc(sizeof *t);
    assert_non_null(t);
    snprintf(dir, sizeof dir, "%s/trusted.d", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    bl_trust_init(t);
    assert_int_equal(bl_trust_add(t, dir, &err), -1); /* empty: fails closed */
    assert_non_null(strstr(err.msg, "no *.pub"));
    snprintf(cmd, sizeof cmd, "cp %s %s %s/ && echo junk > %s/README", pub1, pub2, dir, dir);
    assert_int_equal(system(cmd), 0);
    bl_trust_init(t);
    assert_int_equal(bl_trust_add(t, dir, &err), 0);
    assert_int_equal(t->n, 2);
    /* the site default through $BITLIB_TRUST_DIR */
    setenv("BITLIB_TRUST_DIR", dir, 1);
    bl_trust_init(t);
    assert_int_equal(bl_trust_add_site(t, &err), 0);
    assert_int_equal(t->n, 2);
    setenv("BITLIB_TRUST_DIR", "", 1);
    bl_trust_init(t);
    assert_int_equal(bl_trust_add_site(t, &err), 0);
    assert_int_equal(t->n, 0);
    snprintf(cmd, sizeof cmd, "%s/none", tmpdir);
    setenv("BITLIB_TRUST_DIR", cmd, 1);
    assert_int_equal(bl_trust_add_site(t, &err), 0); /* absent: no requirement */
    assert_int_equal(t->n, 0);
    unsetenv("BITLIB_TRUST_DIR");
    /* a malformed key in the directory is an error, not skipped */
    snprintf(cmd, sizeof cmd, "echo junk > %s/bad.pub", dir);
    assert_int_equal(system(cmd), 0);
    bl_trust_init(t);
    assert_int_equal(bl_trust_add(t, dir, &err), -1);
    assert_non_null(strstr(err.msg, "bad.pub"));
    bl_trust_init(t);
    assert_int_equal(bl_trust_add(t, "/nonexistent/k.pub", &err), -1);
    free(t);
}

static void test_not_a_description(void **state)
{
    (void)state;
    bl_err err;
    bl_signkey *k = bl_signkey_load(key1, &err);
    assert_non_null(k);
    bl_buf out;
    bl_buf_init(&out);
    assert_int_equal(bl_sign_desc((const uint8_t *)"de", 2, k, &out, &err), -1);
    assert_int_equal(bl_sign_desc((const uint8_t *)"d4:infoi1ee", 11, k, &out, &err), -1);
    assert_int_equal(bl_sign_desc((const uint8_t *)"d4:info", 7, k, &out, &err), -1);
    bl_buf_free(&out);
    bl_signkey_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_files),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_unsigned_and_wrong_key),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_job_added_after_signing),
        cmocka_unit_test(test_resign),
        cmocka_unit_test(test_trust_dirs),
        cmocka_unit_test(test_not_a_description),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
