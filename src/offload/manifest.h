/* manifest: all a user needs to pull an offload back.
 *
 * Bencode, a dictionary {"manifest": BODY, "sig": HMAC-SHA-256 of BODY's
 * bytes with the offload key}.  BODY holds the stripe layout (K:M, chunk
 * size, total bytes), the files in stream order with their lengths and
 * SHA-256, the depots, and for every chunk its SHA-256 and the depots that
 * acknowledged it; plus the offload id and its pull key.  The data stream
 * is the files concatenated; stripe s holds bytes [s*K*chunk, (s+1)*K*chunk),
 * the last one padded with zeros; chunk j < K of a stripe is data, j >= K
 * parity.  Parsing checks every bound and that the numbers agree, so a
 * parsed manifest can be trusted not to index out of range (the signature is
 * only checked when the caller has the key). */
#ifndef BL_OFFLOAD_MANIFEST_H
#define BL_OFFLOAD_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "offload/okey.h"

#define BL_MF_MAX_FILES 65536
#define BL_MF_MAX_DEPOTS 1024
#define BL_MF_MAX_AT 64          /* depots per chunk */
#define BL_MF_MAX_STRIPES (1u << 22)
#define BL_MF_MAX_NAME 255
#define BL_MF_MAX_BYTES (256u << 20)  /* a manifest file */

typedef struct bl_mf_file {
    char *name;        /* one path component: no '/', not "." or ".." */
    uint64_t length;
    uint8_t sha[BL_SHA256_LEN];
} bl_mf_file;

typedef struct bl_mf_chunk {
    uint8_t sha[BL_SHA256_LEN];
    uint16_t at[BL_MF_MAX_AT];  /* indexes into depots */
    uint8_t nat;
} bl_mf_chunk;

typedef struct bl_manifest {
    uint8_t id[BL_OFFLOAD_ID_LEN];
    uint8_t pull_key[BL_SHA256_LEN];
    unsigned k, m, replicas;
    uint64_t chunk, total;
    int64_t deadline, purge;     /* epoch seconds; 0: none */
    char **depots;               /* "host:port" */
    size_t ndepots;
    bl_mf_file *files;
    size_t nfiles;
    uint64_t nstripes;
    bl_mf_chunk *chunks;         /* nstripes * m, stripe-major */
} bl_manifest;

/* Stripes needed for total bytes. */
uint64_t bl_mf_stripes(uint64_t total, unsigned k, uint64_t chunk);

void bl_mf_encode(const bl_manifest *mf, const bl_okey *key, bl_buf *out);
/* Parse and check; with key non-NULL the signature must match it. */
int bl_mf_parse(const uint8_t *buf, size_t len, const bl_okey *key, bl_manifest *mf, bl_err *err);
int bl_mf_load(const char *path, const bl_okey *key, bl_manifest *mf, bl_err *err);
/* Write atomically (temporary, fsync, rename). */
int bl_mf_save(const char *path, const bl_manifest *mf, const bl_okey *key, bl_err *err);
void bl_mf_free(bl_manifest *mf);

#endif
