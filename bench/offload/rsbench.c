/* rsbench: Reed-Solomon encode and decode throughput on one thread, through
 * src/offload/rs.c (ISA-L), for bench/offload/run.
 *
 *   rsbench K:M CHUNK_BYTES SECONDS
 *
 * Prints one line per operation:
 *   encode k=4 m=5 chunk=262144 MB/s=... (data bytes per second: what push feeds it)
 *   decode k=4 m=5 chunk=262144 lost=1 MB/s=... (data bytes of a stripe per second,
 *          with the first min(M-K, K) data chunks missing: the worst case pull meets)
 * Run it pinned to one core (taskset) to read the figures per core.  The data are
 * random and cycle through stripes filling 256 MiB, so they come from memory, not from
 * the CPU's caches (as a pushed file does); each measured window is at least SECONDS
 * long and every stripe decoded is compared with the original once at the end, so a
 * broken decode cannot pass for a fast one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "offload/rs.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: rsbench K:M CHUNK_BYTES SECONDS\n");
        return 2;
    }
    bl_err err = {0};
    unsigned k, m;
    if (bl_rs_parse(argv[1], &k, &m, &err) != 0) {
        fprintf(stderr, "rsbench: %s\n", err.msg);
        return 2;
    }
    char *end;
    unsigned long long len = strtoull(argv[2], &end, 10);
    double secs = strtod(argv[3], NULL);
    if (*end || len == 0 || len > (64ull << 20) || secs <= 0 || k == m) {
        fprintf(stderr, "rsbench: need M > K, 0 < CHUNK_BYTES <= 64 MiB, SECONDS > 0\n");
        return 2;
    }
    bl_rs *rs = bl_rs_new(k, m, &err);
    if (!rs) {
        fprintf(stderr, "rsbench: %s\n", err.msg);
        return 1;
    }
    size_t stripe = (size_t)m * len, ns = (256u << 20) / stripe;
    if (ns == 0)
        ns = 1;
    uint8_t *buf = malloc(ns * stripe), *orig = malloc(ns * stripe);
    if (!buf || !orig) {
        fprintf(stderr, "rsbench: out of memory for %zu x %zu bytes\n", ns, stripe);
        return 1;
    }
    uint64_t x = 88172645463325252ull;   /* xorshift64: fast, and incompressible enough */
    for (size_t i = 0; i + 8 <= ns * stripe; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    uint8_t *chunks[BL_RS_MAX_M], present[BL_RS_MAX_M];
#define STRIPE(s) \
    for (unsigned i = 0; i < m; i++) \
        chunks[i] = buf + (s) * stripe + (size_t)i * len

    /* encode */
    uint64_t n = 0;
    double t0 = now(), t;
    do {
        STRIPE(n % ns);
        bl_rs_encode(rs, len, (const uint8_t *const *)chunks, chunks + k);
        n++;
    } while ((t = now()) - t0 < secs);
    memcpy(orig, buf, ns * stripe);
    printf("encode k=%u m=%u chunk=%llu MB/s=%.1f\n", k, m, len, (double)n * k * len / (t - t0) / 1e6);

    /* decode with the first `lost` data chunks missing */
    unsigned lost = m - k < k ? m - k : k;
    for (unsigned i = 0; i < m; i++)
        present[i] = i >= lost;
    n = 0;
    t0 = now();
    do {
        STRIPE(n % ns);
        for (unsigned i = 0; i < lost; i++)
            memset(chunks[i], 0, len);
        if (bl_rs_decode(rs, len, chunks, present, &err) != 0) {
            fprintf(stderr, "rsbench: decode: %s\n", err.msg);
            return 1;
        }
        n++;
    } while ((t = now()) - t0 < secs);
    if (memcmp(buf, orig, ns * stripe) != 0) {
        fprintf(stderr, "rsbench: decoded stripe differs from the original\n");
        return 1;
    }
    printf("decode k=%u m=%u chunk=%llu lost=%u MB/s=%.1f\n", k, m, len, lost,
           (double)n * k * len / (t - t0) / 1e6);
    free(buf);
    free(orig);
    bl_rs_free(rs);
    return 0;
}
