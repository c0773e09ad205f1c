#include "core/json.h"

#include <string.h>

#include "meta/metainfo.h"

void bl_json_str(bl_buf *b, const char *s, size_t n)
{
    bl_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            bl_buf_putc(b, '\\');
            bl_buf_putc(b, c);
        } else if (c < 0x20) {
            bl_buf_printf(b, "\\u%04x", c);
        } else if (c < 0x80) {
            bl_buf_putc(b, c);
        } else {
            /* Copy one whole UTF-8 sequence if it is valid, else U+FFFD. */
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (i + len <= n && bl_utf8_valid(s + i, len)) {
                bl_buf_put(b, s + i, len);
                i += len - 1;
            } else {
                bl_buf_puts(b, "\\ufffd");
            }
        }
    }
    bl_buf_putc(b, '"');
}

void bl_json_cstr(bl_buf *b, const char *s)
{
    if (!s)
        bl_buf_puts(b, "null");
    else
        bl_json_str(b, s, strlen(s));
}
