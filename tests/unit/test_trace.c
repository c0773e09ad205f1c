/* Unit tests for meta/trace (first-open traces merged into a prefetch list)
 * and core/json's string reader (how `bitlib status --opened` reads them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "meta/trace.h"

static char *joined(const char **list, size_t n)
{
    static char buf[1024];
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(buf, i ? " " : "");
        strcat(buf, list[i]);
    }
    return buf;
}

static void test_merge_order(void **state)
{
    (void)state;
    /* "a" is first in both; "c" early in the short trace, late in the long
     * one (mean 0.3125 against b's 0.375); "d" and "e" only in one each */
    char *t1[] = {"a", "b", "c", "d"};
    char *t2[] = {"a", "c", "b", "x", "e", "f", "g", "c"};
    bl_trace tr[] = {{t1, 4}, {t2, 8}};
    const char **out;
    size_t n;
    bl_err err;
    assert_int_equal(bl_trace_merge(tr, 2, &out, &n, &err), 0);
    /* a: 0, 0 -> 0; b: .25, .25 -> .25; c: .5, .125 (its first place) -> .3125;
     * x .375; e .5; d .75; f .625; g .75 (after d: d appeared first) */
    assert_string_equal(joined(out, n), "a b c x e f d g");
    free(out);
    /* one trace: its own order, duplicates dropped */
    char *t3[] = {"z", "y", "z", "w"};
    bl_trace one = {t3, 4};
    assert_int_equal(bl_trace_merge(&one, 1, &out, &n, &err), 0);
    assert_string_equal(joined(out, n), "z y w");
    free(out);
    /* nothing at all */
    assert_int_equal(bl_trace_merge(NULL, 0, &out, &n, &err), 0);
    assert_int_equal(n, 0);
    free(out);
}

static void test_read(void **state)
{
    (void)state;
    char path[] = "/tmp/bl_trace_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("lib/liba.so\n\n./bin/app\n/share/x\nlast-no-newline", f);
    fclose(f);
    char **lines;
    size_t n;
    bl_err err;
    assert_int_equal(bl_trace_read(path, &lines, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(lines[0], "lib/liba.so");
    assert_string_equal(lines[1], "bin/app");
    assert_string_equal(lines[2], "share/x");
    assert_string_equal(lines[3], "last-no-newline");
    bl_trace_free(lines, n);
    /* a line over the bound is an error naming the line */
    f = fopen(path, "w");
    fputs("ok\n", f);
    for (int i = 0; i < BL_TRACE_MAX_LINE + 10; i++)
        fputc('x', f);
    fputc('\n', f);
    fclose(f);
    assert_int_equal(bl_trace_read(path, &lines, &n, &err), -1);
    assert_non_null(strstr(err.msg, ":2: line longer"));
    assert_null(lines);
    unlink(path);
    assert_int_equal(bl_trace_read(path, &lines, &n, &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
}

static void test_json_unstr(void **state)
{
    (void)state;
    char out[64];
    /* what bl_json_str writes reads back */
    const char *names[] = {"lib/liba.so", "we\"ird\\name", "tab\there", "caf\xc3\xa9"};
    for (size_t i = 0; i < 4; i++) {
        bl_buf b;
        bl_buf_init(&b);
        bl_json_cstr(&b, names[i]);
        bl_buf_putc(&b, ',');
        const char *end = bl_json_unstr((const char *)b.data, out, sizeof out);
        assert_non_null(end);
        assert_int_equal(*end, ',');
        assert_string_equal(out, names[i]);
        bl_buf_free(&b);
    }
    assert_non_null(bl_json_unstr("\"\\u00e9\\ud83d\\ude00\\/\"", out, sizeof out));
    assert_string_equal(out, "\xc3\xa9\xf0\x9f\x98\x80/");
    /* malformed: no quote, unterminated, bad escape, lone surrogate, NUL, overflow */
    assert_null(bl_json_unstr("abc", out, sizeof out));
    assert_null(bl_json_unstr("\"abc", out, sizeof out));
    assert_null(bl_json_unstr("\"a\\x\"", out, sizeof out));
    assert_null(bl_json_unstr("\"\\ud800\"", out, sizeof out));
    assert_null(bl_json_unstr("\"\\udc00x\"", out, sizeof out));
    assert_null(bl_json_unstr("\"\\u0000\"", out, sizeof out));
    assert_null(bl_json_unstr("\"\\u12\"", out, sizeof out));
    assert_null(bl_json_unstr("\"abcdef\"", out, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_json_unstr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
