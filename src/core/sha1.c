#include "core/sha1.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

/* EVP_Digest() looks the algorithm up and builds a context on every call:
 * with 16 KiB pieces that costs 5-20% of the hashing (measured side by
 * side here).  The algorithm is fetched once, and each thread keeps one
 * context. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;

static void free_ctx(void *ctx) { EVP_MD_CTX_free(ctx); }

static void sha1_init(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!sha1_md || pthread_key_create(&ctx_key, free_ctx) != 0)
        abort();
}

void bl_sha1(const void *data, size_t len, uint8_t out[BL_SHA1_LEN])
{
    pthread_once(&sha1_once, sha1_init);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (!ctx || pthread_setspecific(ctx_key, ctx) != 0)
            abort();
    }
    unsigned int n = 0;
    /* These cannot fail for SHA-1 short of memory exhaustion inside
     * OpenSSL; treat that as fatal. */
    if (!EVP_DigestInit_ex(ctx, sha1_md, NULL) || !EVP_DigestUpdate(ctx, data, len) ||
        !EVP_DigestFinal_ex(ctx, out, &n))
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
