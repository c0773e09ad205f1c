/* json: just enough JSON output for --json modes.  Strings are escaped per
 * RFC 8259; bytes that are not valid UTF-8 are written as \ufffd so the
 * output is always valid JSON.  The only reader is bl_json_unstr, for
 * strings in the control socket's answers. */
#ifndef BL_CORE_JSON_H
#define BL_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

void bl_json_str(bl_buf *b, const char *s, size_t n);
void bl_json_cstr(bl_buf *b, const char *s);   /* NULL writes null */
/* Read one JSON string at p (its opening '"') into out (NUL-terminated;
 * \uXXXX escapes become UTF-8, surrogate pairs included).  Returns the
 * position after its closing '"', or NULL if p holds no well-formed string
 * or out would overflow. */
const char *bl_json_unstr(const char *p, char *out, size_t outsz);

#endif
