#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bl_buf_init(bl_buf *b) { memset(b, 0, sizeof *b); }

void bl_buf_free(bl_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void bl_buf_reset(bl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

bool bl_buf_reserve(bl_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void bl_buf_put(bl_buf *b, const void *p, size_t n)
{
    if (!bl_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void bl_buf_putc(bl_buf *b, uint8_t c) { bl_buf_put(b, &c, 1); }
void bl_buf_puts(bl_buf *b, const char *s) { bl_buf_put(b, s, strlen(s)); }

void bl_buf_printf(bl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !bl_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bl_buf_consume(bl_buf *b, size_t n)
{
    if (n >= b->len) {
        bl_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}

uint8_t *bl_buf_steal(bl_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}
