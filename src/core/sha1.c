#include "core/sha1.h"

#include <openssl/evp.h>
#include <stdlib.h>

void bl_sha1(const void *data, size_t len, uint8_t out[BL_SHA1_LEN])
{
    unsigned int n = 0;
    /* EVP_Digest cannot fail for SHA-1 with a valid output buffer short of
     * memory exhaustion inside OpenSSL; treat that as fatal. */
    if (!EVP_Digest(data, len, out, &n, EVP_sha1(), NULL))
        abort();
}

void bl_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}
