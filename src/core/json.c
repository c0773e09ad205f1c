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

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

const char *bl_json_unstr(const char *p, char *out, size_t outsz)
{
    if (*p++ != '"' || !outsz)
        return NULL;
    size_t n = 0;
    for (;;) {
        unsigned long cp;
        char c = *p++;
        if (c == '"')
            break;
        if (c == '\0' || (unsigned char)c < 0x20)
            return NULL;
        if (c != '\\') {
            if (n + 1 >= outsz)
                return NULL;
            out[n++] = c;
            continue;
        }
        c = *p++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (n + 1 >= outsz)
                return NULL;
            out[n++] = map[simple - "\"\\/bfnrt"];
            continue;
        }
        int u = c == 'u' ? hex4(p) : -1;
        if (u < 0)
            return NULL;
        p += 4;
        cp = (unsigned long)u;
        if (u == 0)
            return NULL; /* a C string cannot hold it */
        if (u >= 0xd800 && u < 0xdc00) {
            int lo = p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
            if (lo < 0xdc00 || lo >= 0xe000)
                return NULL;
            p += 6;
            cp = 0x10000 + (((unsigned long)u - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
        } else if (u >= 0xdc00 && u < 0xe000) {
            return NULL;
        }
        char enc[4];
        size_t len;
        if (cp < 0x80) {
            enc[0] = (char)cp;
            len = 1;
        } else if (cp < 0x800) {
            enc[0] = (char)(0xc0 | (cp >> 6));
            enc[1] = (char)(0x80 | (cp & 0x3f));
            len = 2;
        } else if (cp < 0x10000) {
            enc[0] = (char)(0xe0 | (cp >> 12));
            enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            enc[2] = (char)(0x80 | (cp & 0x3f));
            len = 3;
        } else {
            enc[0] = (char)(0xf0 | (cp >> 18));
            enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            enc[3] = (char)(0x80 | (cp & 0x3f));
            len = 4;
        }
        if (n + len >= outsz)
            return NULL;
        memcpy(out + n, enc, len);
        n += len;
    }
    out[n] = 0;
    return p;
}
