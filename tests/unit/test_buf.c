/* Unit tests for the growable byte buffer (core/buf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

/* Let the huge-allocation test see malloc fail instead of ASan aborting
 * (ASan still prints a one-line "failed to allocate" warning: expected). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static void assert_terminated(const bl_buf *b)
{
    assert_non_null(b->data);
    assert_true(b->len < b->cap);
    assert_int_equal(b->data[b->len], 0);
}

static void test_init_empty(void **state)
{
    (void)state;
    bl_buf b;
    memset(&b, 0x5a, sizeof b);
    bl_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_false(b.oom);
    /* reset and free of an empty buffer are safe */
    bl_buf_reset(&b);
    bl_buf_consume(&b, 10);
    assert_int_equal(b.len, 0);
    bl_buf_free(&b);
    bl_buf_free(&b);
    assert_null(b.data);
    /* an empty put still yields a terminated (empty) string */
    bl_buf_put(&b, "", 0);
    assert_int_equal(b.len, 0);
    assert_terminated(&b);
    bl_buf_free(&b);
}

static void test_append(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_put(&b, "abc", 3);
    assert_int_equal(b.len, 3);
    assert_terminated(&b);
    assert_string_equal((char *)b.data, "abc");
    bl_buf_putc(&b, 'd');
    bl_buf_puts(&b, "ef");
    bl_buf_put(&b, "\0g", 2); /* binary data keeps its NUL */
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "abcdef\0g", 8);
    assert_terminated(&b);
    assert_false(b.oom);
    bl_buf_free(&b);
}

static void test_growth(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    /* grow well past the first allocation a byte at a time, then in blocks */
    for (size_t i = 0; i < 100000; i++) {
        bl_buf_putc(&b, (uint8_t)(i * 7));
        assert_true(b.len < b.cap);
    }
    uint8_t block[4096];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i ^ 0x5a);
    for (int k = 0; k < 50; k++)
        bl_buf_put(&b, block, sizeof block);
    assert_int_equal(b.len, 100000 + 50 * sizeof block);
    for (size_t i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], (uint8_t)(i * 7));
    for (int k = 0; k < 50; k++)
        assert_memory_equal(b.data + 100000 + (size_t)k * sizeof block, block, sizeof block);
    assert_terminated(&b);
    assert_false(b.oom);
    bl_buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    assert_true(bl_buf_reserve(&b, 1000));
    assert_true(b.cap >= 1001); /* room for the NUL too */
    assert_int_equal(b.len, 0);
    uint8_t *before = b.data;
    size_t cap = b.cap;
    /* filling the reserved room does not reallocate */
    for (int i = 0; i < 1000; i++)
        bl_buf_putc(&b, 'x');
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_terminated(&b);
    assert_true(bl_buf_reserve(&b, 0));
    bl_buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_printf(&b, "%d:%s", 42, "x");
    assert_string_equal((char *)b.data, "42:x");
    assert_int_equal(b.len, 4);
    bl_buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 4);
    /* output longer than any initial capacity */
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    bl_buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
    assert_int_equal(b.data[4], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[5 + 1000], 'q');
    assert_terminated(&b);
    bl_buf_free(&b);
}

static void test_consume_reset(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_puts(&b, "0123456789");
    bl_buf_consume(&b, 0);
    assert_string_equal((char *)b.data, "0123456789");
    bl_buf_consume(&b, 3);
    assert_int_equal(b.len, 7);
    assert_string_equal((char *)b.data, "3456789");
    bl_buf_consume(&b, 6);
    assert_string_equal((char *)b.data, "9");
    bl_buf_consume(&b, 1);
    assert_int_equal(b.len, 0);
    assert_terminated(&b);
    bl_buf_puts(&b, "abc");
    bl_buf_consume(&b, 1000); /* more than there is: empties */
    assert_int_equal(b.len, 0);
    assert_terminated(&b);
    bl_buf_puts(&b, "xyz");
    size_t cap = b.cap;
    bl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* reset keeps the allocation */
    assert_terminated(&b);
    bl_buf_puts(&b, "again");
    assert_string_equal((char *)b.data, "again");
    bl_buf_free(&b);
}

static void test_steal(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_puts(&b, "hello");
    size_t len = 0;
    uint8_t *p = bl_buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 5);
    assert_string_equal((char *)p, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* the buffer is reusable and independent of the stolen bytes */
    bl_buf_puts(&b, "other");
    assert_string_equal((char *)p, "hello");
    free(p);
    p = bl_buf_steal(&b, NULL);
    assert_string_equal((char *)p, "other");
    free(p);
    /* stealing from an empty buffer gives NULL and length 0 */
    len = 99;
    assert_null(bl_buf_steal(&b, &len));
    assert_int_equal(len, 0);
}

static void test_oom_is_sticky(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_puts(&b, "keep");
    /* a size that cannot be represented marks the buffer failed */
    assert_false(bl_buf_reserve(&b, SIZE_MAX));
    assert_true(b.oom);
    assert_false(bl_buf_reserve(&b, SIZE_MAX - 3));
    /* later appends are no-ops; the earlier content is intact */
    bl_buf_puts(&b, "more");
    bl_buf_putc(&b, 'x');
    bl_buf_printf(&b, "%d", 7);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    assert_false(bl_buf_reserve(&b, 1));
    bl_buf_free(&b);
    assert_false(b.oom); /* free re-initialises */

    /* a size that is representable but cannot be allocated */
    bl_buf_init(&b);
    assert_false(bl_buf_reserve(&b, SIZE_MAX / 2));
    assert_true(b.oom);
    bl_buf_put(&b, "x", 1);
    assert_int_equal(b.len, 0);
    bl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_consume_reset),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_oom_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
