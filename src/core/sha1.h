/* sha1: SHA-1 of byte ranges, a thin wrapper over OpenSSL libcrypto.
 * Every piece hash in bitlib goes through here so that a batching or
 * multi-buffer implementation can replace it in one place. */
#ifndef BL_CORE_SHA1_H
#define BL_CORE_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define BL_SHA1_LEN 20

void bl_sha1(const void *data, size_t len, uint8_t out[BL_SHA1_LEN]);
/* Hex (lower case, 40 chars + NUL). */
void bl_hex(const uint8_t *bytes, size_t n, char *out);

#endif
