/* Unit tests for private swarms' secrets (src/swarm/secret.c): proofs bind
 * the secret, the info-hash, both peer ids in order and both nonces in
 * order (so a recorded or reflected proof fails); passkeys differ per
 * info-hash and secret; secret files that are shared with others, empty,
 * too long or not regular files are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swarm/secret.h"

static bl_secret mk(const char *text)
{
    bl_secret s;
    memset(&s, 0, sizeof s);
    s.len = strlen(text);
    memcpy(s.bytes, text, s.len);
    return s;
}

static const uint8_t IH[20] = "info-hash-0123456789";
static const uint8_t A[20] = "-BL0100-aaaaaaaaaaaa", B[20] = "-BL0100-bbbbbbbbbbbb";
static const uint8_t NA[16] = "nonce-of-a-12345", NB[16] = "nonce-of-b-12345";

static void test_proof_binds_everything(void **state)
{
    bl_secret k = mk("0123456789abcdef0123456789abcdef"), k2 = mk("0123456789abcdef0123456789abcdeF");
    uint8_t p[32], q[32];
    bl_secret_proof(&k, IH, A, B, NA, NB, 16, p);
    bl_secret_proof(&k, IH, A, B, NA, NB, 16, q);
    assert_true(bl_secret_proof_ok(p, 32, q));          /* deterministic */
    assert_false(bl_secret_proof_ok(p, 31, q));         /* length counts */
    bl_secret_proof(&k2, IH, A, B, NA, NB, 16, q);
    assert_false(bl_secret_proof_ok(p, 32, q));         /* another secret */
    bl_secret_proof(&k, IH, B, A, NA, NB, 16, q);
    assert_false(bl_secret_proof_ok(p, 32, q));         /* reflected: ids swapped */
    bl_secret_proof(&k, IH, A, B, NB, NA, 16, q);
    assert_false(bl_secret_proof_ok(p, 32, q));         /* nonces swapped */
    uint8_t other_nonce[16];
    memcpy(other_nonce, NB, 16);
    other_nonce[15] ^= 1;
    bl_secret_proof(&k, IH, A, B, NA, other_nonce, 16, q);
    assert_false(bl_secret_proof_ok(p, 32, q));         /* replayed to a new connection */
    uint8_t ih2[20];
    memcpy(ih2, IH, 20);
    ih2[0] ^= 1;
    bl_secret_proof(&k, ih2, A, B, NA, NB, 16, q);
    assert_false(bl_secret_proof_ok(p, 32, q));         /* another swarm */
}

static void test_passkey(void **state)
{
    bl_secret k = mk("0123456789abcdef0123456789abcdef"), k2 = mk("another secret, 16+ bytes");
    char a[BL_SECRET_PASSKEY_HEX + 1], b[BL_SECRET_PASSKEY_HEX + 1];
    bl_secret_passkey(&k, IH, a);
    assert_int_equal(strlen(a), BL_SECRET_PASSKEY_HEX);
    assert_int_equal(strspn(a, "0123456789abcdef"), BL_SECRET_PASSKEY_HEX);
    bl_secret_passkey(&k, IH, b);
    assert_string_equal(a, b);
    bl_secret_passkey(&k2, IH, b);
    assert_string_not_equal(a, b);
    uint8_t ih2[20];
    memcpy(ih2, IH, 20);
    ih2[19] ^= 0x80;
    bl_secret_passkey(&k, ih2, b);
    assert_string_not_equal(a, b);
    /* the passkey is not the proof's key material in disguise */
    assert_null(strstr(a, "30313233"));
}

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/test_secret.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void put(const char *name, const char *text, mode_t mode)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int load(const char *name, bl_secret *s, bl_err *err)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return bl_secret_load(s, p, err);
}

static void test_load(void **state)
{
    bl_secret s;
    bl_err err;
    put("good", "0123456789abcdef0123456789abcdef\n", 0600);
    assert_int_equal(load("good", &s, &err), 0);
    assert_int_equal(s.len, 32);                        /* newline dropped */
    put("shared", "0123456789abcdef0123456789abcdef\n", 0644);
    assert_int_equal(load("shared", &s, &err), -1);
    assert_non_null(strstr(err.msg, "chmod 600"));
    put("short", "tooshort\n", 0600);
    assert_int_equal(load("short", &s, &err), -1);
    assert_non_null(strstr(err.msg, "16 to 1024"));
    put("empty", "", 0600);
    assert_int_equal(load("empty", &s, &err), -1);
    assert_int_equal(load("missing", &s, &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
    char big[BL_SECRET_MAX + 10];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    put("big", big, 0600);
    assert_int_equal(load("big", &s, &err), -1);
    char p[128];
    snprintf(p, sizeof p, "%s/adir", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(load("adir", &s, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    /* generate: 0600, never overwriting, loadable */
    snprintf(p, sizeof p, "%s/gen", dir);
    assert_int_equal(bl_secret_generate(p, &err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(load("gen", &s, &err), 0);
    assert_int_equal(s.len, 64);
    assert_int_equal(bl_secret_generate(p, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proof_binds_everything),
        cmocka_unit_test(test_passkey),
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
