/* json: just enough JSON output for --json modes (no parser: bitlib never
 * reads JSON).  Strings are escaped per RFC 8259; bytes that are not valid
 * UTF-8 are written as \ufffd so the output is always valid JSON. */
#ifndef BL_CORE_JSON_H
#define BL_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

void bl_json_str(bl_buf *b, const char *s, size_t n);
void bl_json_cstr(bl_buf *b, const char *s);   /* NULL writes null */

#endif
