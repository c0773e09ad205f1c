/* buf: a growable byte buffer, the one way bitlib builds output in memory.
 *
 * Appends never fail silently: on allocation failure the buffer is marked
 * failed (b->oom) and later appends are no-ops, so a writer checks once at
 * the end.  data is always NUL-terminated for convenience (not counted in
 * len). */
#ifndef BL_CORE_BUF_H
#define BL_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bl_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} bl_buf;

void bl_buf_init(bl_buf *b);
void bl_buf_free(bl_buf *b);
void bl_buf_reset(bl_buf *b);
bool bl_buf_reserve(bl_buf *b, size_t extra);
void bl_buf_put(bl_buf *b, const void *p, size_t n);
void bl_buf_putc(bl_buf *b, uint8_t c);
void bl_buf_puts(bl_buf *b, const char *s);
void bl_buf_printf(bl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (consumed input). */
void bl_buf_consume(bl_buf *b, size_t n);
/* Hand the bytes to the caller (who frees them); the buffer becomes empty. */
uint8_t *bl_buf_steal(bl_buf *b, size_t *len);

#endif
