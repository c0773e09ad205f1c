/* Unit tests: the control socket's request syntax (fs/ctlreq.h) and the
 * rendezvous-file parsers factored out for fuzzing (registry, cache lock). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fs/cache.h"
#include "fs/ctlreq.h"
#include "launch/registry.h"

static void test_lines(void **state)
{
    (void)state;
    char line[BL_CTL_LINE_MAX];
    size_t used = 0;
    const char *in = "ping\r\nstatus\nrest";
    assert_int_equal(bl_ctl_next_line((const uint8_t *)in, strlen(in), line, &used), 1);
    assert_string_equal(line, "ping");
    assert_int_equal(used, 6);
    assert_int_equal(bl_ctl_next_line((const uint8_t *)in + 6, strlen(in) - 6, line, &used), 1);
    assert_string_equal(line, "status");
    assert_int_equal(bl_ctl_next_line((const uint8_t *)"rest", 4, line, &used), 0);
    /* a client that connects and closes: the connection's empty buffer has no data */
    assert_int_equal(bl_ctl_next_line(NULL, 0, line, &used), 0);
    static uint8_t big[BL_CTL_LINE_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(bl_ctl_next_line(big, BL_CTL_LINE_MAX - 1, line, &used), 0);
    assert_int_equal(bl_ctl_next_line(big, BL_CTL_LINE_MAX, line, &used), -1);
    big[BL_CTL_LINE_MAX - 1] = '\n'; /* 4095 bytes and '\n': the longest line */
    assert_int_equal(bl_ctl_next_line(big, BL_CTL_LINE_MAX, line, &used), 1);
    assert_int_equal(strlen(line), BL_CTL_LINE_MAX - 1);
    big[BL_CTL_LINE_MAX - 1] = 'a';
    big[BL_CTL_LINE_MAX] = '\n';
    assert_int_equal(bl_ctl_next_line(big, sizeof big, line, &used), -1);
}

static void test_parse(void **state)
{
    (void)state;
    bl_ctl_req r;
    bl_ctl_parse("ping", &r);
    assert_int_equal(r.op, BL_CTL_PING);
    bl_ctl_parse("ping ", &r);
    assert_int_equal(r.op, BL_CTL_UNKNOWN);
    bl_ctl_parse("lookup lib/a b", &r);
    assert_int_equal(r.op, BL_CTL_LOOKUP);
    assert_string_equal(r.path, "lib/a b");
    bl_ctl_parse("fetch /x", &r);
    assert_int_equal(r.op, BL_CTL_FETCH);
    assert_string_equal(r.path, "/x");
    bl_ctl_parse("fetch-range 10 0 lib/x", &r);
    assert_int_equal(r.op, BL_CTL_FETCH_RANGE);
    assert_int_equal(r.off, 10);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.path, "lib/x");
    const char *bad[] = {"fetch-range 1 2 ", "fetch-range -1 2 x", "fetch-range 1 x",
                         "fetch-range 99999999999999999999 1 x", "fetch-range  1 2 x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bl_ctl_parse(bad[i], &r);
        assert_int_equal(r.op, BL_CTL_BAD_RANGE);
        assert_null(r.path);
    }
}

static void test_relative(void **state)
{
    (void)state;
    const char *roots[] = {"/mnt/x/", NULL, "/opt/libs"};
    assert_string_equal(bl_ctl_relative("lib/a", roots, 3), "lib/a");
    assert_string_equal(bl_ctl_relative("/mnt/x/lib/a", roots, 3), "/lib/a");
    assert_string_equal(bl_ctl_relative("/opt/libs", roots, 3), "");
    assert_null(bl_ctl_relative("/opt/libsx/a", roots, 3));
    assert_null(bl_ctl_relative("/etc/passwd", roots, 3));
    const char *slash[] = {"/"};
    assert_string_equal(bl_ctl_relative("/a", slash, 1), "/a");
}

static void test_rendezvous(void **state)
{
    (void)state;
    uint64_t st = 0;
    assert_int_equal(bl_proc_parse_start("1 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
                                         "4242 20", &st), 0);
    assert_int_equal(st, 4242);
    assert_int_equal(bl_proc_parse_start("1 (z) Z 1 2", &st), -1);
    assert_int_equal(bl_proc_parse_start("1 (a) S 1 2 3", &st), -1);
    assert_int_equal(bl_proc_parse_start("1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
                                         "-5", &st), -1);
    pid_t pid;
    assert_true(bl_reg_parse_holder("12.34", &pid, &st));
    assert_int_equal(pid, 12);
    assert_int_equal(st, 34);
    const char *bad[] = {".1", "1.", "1", "-1.2", "+1.2", "1.2x", "1.-2", "99999999999.1", " 1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(bl_reg_parse_holder(bad[i], &pid, &st));
    char msg[16];
    assert_int_equal(bl_reg_parse_failure("2000 cannot mount: a long reason\nmore", 1000, msg,
                                          sizeof msg), 1);
    assert_string_equal(msg, "cannot mount: a");
    assert_int_equal(bl_reg_parse_failure("999 old", 1000, msg, sizeof msg), 0);
    assert_int_equal(bl_reg_parse_failure("x 1", 0, msg, sizeof msg), 0);
    char mount[8];
    bl_cache_parse_owner("pid 42 mount /opt/libraries\n", &pid, mount, sizeof mount);
    assert_int_equal(pid, 42);
    assert_string_equal(mount, "/opt/li");
    bl_cache_parse_owner("pid 42\n", &pid, mount, sizeof mount);
    assert_int_equal(pid, 42);
    assert_string_equal(mount, "");
    bl_cache_parse_owner("pid -42 mount /x", &pid, mount, sizeof mount);
    assert_int_equal(pid, 0);
    bl_cache_parse_owner("pid 42x mount /x", &pid, mount, sizeof mount);
    assert_int_equal(pid, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_rendezvous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
