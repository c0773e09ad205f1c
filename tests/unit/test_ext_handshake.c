/* Unit tests: BEP 10 extension handshakes sent more than once
 * (bl_ext_handshake_update / _merge in swarm/wire.c).  A later handshake
 * carries changes only: keys it has replace, "m" entries merge name by name
 * (id 0 disables that one), absent keys keep their values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "swarm/wire.h"

static void update(bl_ext_handshake *st, const char *payload, unsigned *carried)
{
    bl_err err = {0};
    if (bl_ext_handshake_update(st, (const uint8_t *)payload, strlen(payload), carried, &err) != 0)
        fail_msg("update %s: %s", payload, err.msg);
}

/* libtorrent's first handshake, then (87 s later in the field) one that
 * disables PEX only. */
static void test_disable_one_extension(void **state)
{
    (void)state;
    bl_ext_handshake st;
    memset(&st, 0, sizeof st);
    unsigned carried;
    update(&st, "d1:md11:lt_donthavei7e11:ut_metadatai2e6:ut_pexi1ee1:pi51413e4:reqqi500e"
                "11:upload_onlyi0e1:v16:libtorrent 2.0.8e", &carried);
    assert_int_equal(carried, BL_EXT_KEY_M | BL_EXT_KEY_P | BL_EXT_KEY_REQQ |
                                  BL_EXT_KEY_UPLOAD_ONLY | BL_EXT_KEY_V);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_pex"), 1);

    update(&st, "d1:md6:ut_pexi0eee", &carried);
    assert_int_equal(carried, BL_EXT_KEY_M);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_pex"), 0);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_metadata"), 2);
    assert_int_equal(bl_ext_handshake_id(&st, "lt_donthave"), 7);
    assert_string_equal(st.client, "libtorrent 2.0.8");
    assert_true(st.has_port);
    assert_int_equal(st.port, 51413);
    assert_int_equal(st.reqq, 500);
    /* the state remembers every key ever carried */
    assert_true(st.keys & BL_EXT_KEY_V);

    /* re-enabled under a new id; a new extension added */
    update(&st, "d1:md8:ut_holepi4e6:ut_pexi9eee", &carried);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_pex"), 9);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_holep"), 4);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_metadata"), 2);
}

/* Keys a later handshake carries replace their values, whatever they are;
 * a message without "m" leaves every extension alone. */
static void test_keys_replace(void **state)
{
    (void)state;
    bl_ext_handshake st;
    memset(&st, 0, sizeof st);
    update(&st, "d11:bitlib_coopi1e1:md13:bitlib_intenti3e6:ut_pexi1ee1:pi6881e4:reqqi1024e"
                "1:v12:bitlib 0.1.0e", NULL);
    assert_true(st.bitlib_coop);
    assert_false(st.upload_only);
    unsigned carried;
    update(&st, "d1:pi7000e4:reqqi64e11:upload_onlyi1e1:v5:othere", &carried);
    assert_int_equal(carried, BL_EXT_KEY_UPLOAD_ONLY | BL_EXT_KEY_V | BL_EXT_KEY_REQQ |
                                  BL_EXT_KEY_P);
    assert_false(carried & BL_EXT_KEY_M);
    assert_true(st.upload_only);
    assert_string_equal(st.client, "other");
    assert_int_equal(st.reqq, 64);
    assert_int_equal(st.port, 7000);
    assert_true(st.bitlib_coop);
    assert_int_equal(bl_ext_handshake_id(&st, BL_EXT_BITLIB_INTENT), 3);
    assert_int_equal(bl_ext_handshake_id(&st, "ut_pex"), 1);
    /* an empty client name is a name too */
    update(&st, "d1:v0:e", &carried);
    assert_int_equal(carried, BL_EXT_KEY_V);
    assert_string_equal(st.client, "");
    /* values we refuse count as absent: the old ones stay */
    update(&st, "d1:pi70000e4:reqqi-1e6:yourip3:abce", &carried);
    assert_int_equal(carried, 0);
    assert_int_equal(st.port, 7000);
    assert_int_equal(st.reqq, 64);
    update(&st, "d11:bitlib_coopi0ee", &carried);
    assert_int_equal(carried, BL_EXT_KEY_BITLIB_COOP);
    assert_false(st.bitlib_coop);
}

/* A bad update is refused whole: the state is left exactly as it was. */
static void test_bad_update_changes_nothing(void **state)
{
    (void)state;
    bl_ext_handshake st, before;
    memset(&st, 0, sizeof st);
    update(&st, "d1:md6:ut_pexi1ee1:v1:ae", NULL);
    memcpy(&before, &st, sizeof st);
    const char *bad[] = {"li1ee", "d1:md6:ut_pexi0ee", "", "d1:pi1e1:md" "ee"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bl_err err = {0};
        unsigned carried = 77;
        assert_int_equal(bl_ext_handshake_update(&st, (const uint8_t *)bad[i], strlen(bad[i]),
                                                 &carried, &err),
                         -1);
        assert_true(err.msg[0] != '\0');
        assert_int_equal(carried, 77);
        assert_memory_equal(&st, &before, sizeof st);
    }
}

/* "m" never holds more than BL_EXT_MAX_NAMES names: once full, a new name
 * takes the slot of a disabled extension, or is dropped. */
static void test_names_bounded(void **state)
{
    (void)state;
    bl_ext_handshake st;
    memset(&st, 0, sizeof st);
    char msg[2048];
    size_t n = (size_t)snprintf(msg, sizeof msg, "d1:md");
    for (int i = 0; i < BL_EXT_MAX_NAMES; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, "4:x%03di%de", i, i + 1);
    snprintf(msg + n, sizeof msg - n, "ee");
    update(&st, msg, NULL);
    assert_int_equal(st.n_m, BL_EXT_MAX_NAMES);
    update(&st, "d1:md4:newai5eee", NULL); /* full, nothing disabled: dropped */
    assert_int_equal(bl_ext_handshake_id(&st, "newa"), 0);
    update(&st, "d1:md4:x003i0eee", NULL);
    update(&st, "d1:md4:newai5eee", NULL); /* takes x003's slot */
    assert_int_equal(st.n_m, BL_EXT_MAX_NAMES);
    assert_int_equal(bl_ext_handshake_id(&st, "newa"), 5);
    assert_int_equal(bl_ext_handshake_id(&st, "x003"), 0);
    assert_int_equal(bl_ext_handshake_id(&st, "x004"), 5);
}

/* decode alone is one message: merging it into a zeroed state gives the
 * same thing. */
static void test_decode_is_first_update(void **state)
{
    (void)state;
    static const char s[] = "d4:ipv44:\x0a\x00\x00\x01" "1:md11:ut_metadatai2e6:ut_pexi1ee"
                            "13:metadata_sizei345e1:pi1e6:yourip4:\x7f\x00\x00\x01" "e";
    size_t len = sizeof s - 1;
    bl_ext_handshake a, b;
    bl_err err = {0};
    assert_int_equal(bl_ext_handshake_decode((const uint8_t *)s, len, &a, &err), 0);
    memset(&b, 0, sizeof b);
    assert_int_equal(bl_ext_handshake_update(&b, (const uint8_t *)s, len, NULL, &err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.keys, BL_EXT_KEY_M | BL_EXT_KEY_METADATA_SIZE | BL_EXT_KEY_P |
                                 BL_EXT_KEY_IPV4 | BL_EXT_KEY_YOURIP);
    assert_int_equal(a.metadata_size, 345);
    assert_int_equal(a.yourip_len, 4);
}

/* Private swarms: the nonce travels as a 16-byte string; one of another
 * length is ignored, not an error; a later handshake without one keeps it. */
static void test_nonce(void **state)
{
    (void)state;
    bl_ext_handshake hs;
    memset(&hs, 0, sizeof hs);
    memcpy(hs.nonce, "0123456789abcdef", 16);
    hs.has_nonce = true;
    bl_ext_handshake_set(&hs, BL_EXT_BITLIB_AUTH, BL_EXT_LOCAL_BITLIB_AUTH);
    bl_buf b;
    bl_buf_init(&b);
    bl_ext_handshake_encode(&b, &hs);
    bl_ext_handshake st;
    memset(&st, 0, sizeof st);
    unsigned carried;
    bl_err err = {0};
    assert_int_equal(bl_ext_handshake_update(&st, b.data, b.len, &carried, &err), 0);
    assert_true(carried & BL_EXT_KEY_BITLIB_NONCE);
    assert_true(st.has_nonce);
    assert_memory_equal(st.nonce, "0123456789abcdef", 16);
    assert_int_equal(bl_ext_handshake_id(&st, BL_EXT_BITLIB_AUTH), BL_EXT_LOCAL_BITLIB_AUTH);
    bl_buf_free(&b);
    update(&st, "d1:md6:ut_pexi1eee", &carried);
    assert_true(st.has_nonce);
    bl_ext_handshake other;
    memset(&other, 0, sizeof other);
    update(&other, "d12:bitlib_nonce3:abce", &carried);
    assert_false(other.has_nonce);
    assert_false(carried & BL_EXT_KEY_BITLIB_NONCE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disable_one_extension),
        cmocka_unit_test(test_keys_replace),
        cmocka_unit_test(test_bad_update_changes_nothing),
        cmocka_unit_test(test_names_bounded),
        cmocka_unit_test(test_decode_is_first_update),
        cmocka_unit_test(test_nonce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
