#include "core/sha1batch.h"

#include <stdlib.h>
#include <string.h>

#ifdef BL_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

/* Jobs in the library at once: at most one per lane (a full set of lanes is
 * hashed inside the submit that fills it), so 16 would do; the spare slots
 * cover a library that queues more before hashing. */
#define SLOTS 64

struct slot {
    uint64_t tag;
    size_t len;
    bool busy;
    uint8_t md[BL_SHA1_LEN];
    struct slot *next_free;
};

struct bl_sha1_batch {
#ifdef BL_HAVE_IPSEC_MB
    IMB_MGR *mgr; /* NULL: hash at submit */
#endif
    unsigned lanes;
    bl_sha1_done_fn done;
    void *arg;
    unsigned waiting;
    bool in_done;
    struct slot slots[SLOTS];
    struct slot *free_slots;
};

bl_sha1_batch *bl_sha1_batch_new(bool use_lanes, bl_sha1_done_fn done, void *arg, bl_err *err)
{
    bl_sha1_batch *b = calloc(1, sizeof *b);
    if (!b) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    b->done = done;
    b->arg = arg;
    b->lanes = 1;
    for (int i = SLOTS - 1; i >= 0; i--) {
        b->slots[i].next_free = b->free_slots;
        b->free_slots = &b->slots[i];
    }
#ifdef BL_HAVE_IPSEC_MB
    if (use_lanes) {
        IMB_MGR *m = alloc_mb_mgr(0);
        if (m) {
            IMB_ARCH arch = IMB_ARCH_NONE;
            init_mb_mgr_auto(m, &arch);
            /* with SHA extensions OpenSSL hashes one buffer about as fast as
             * the library hashes its two lanes: not worth the wait */
            if (arch >= IMB_ARCH_AVX2 && !(m->features & IMB_FEATURE_SHANI)) {
                b->mgr = m;
                b->lanes = arch >= IMB_ARCH_AVX512 ? 16 : 8;
            } else {
                free_mb_mgr(m);
            }
        }
    }
#else
    (void)use_lanes;
#endif
    return b;
}

void bl_sha1_batch_free(bl_sha1_batch *b)
{
    if (!b)
        return;
#ifdef BL_HAVE_IPSEC_MB
    if (b->mgr) {
        /* the library holds pointers into jobs: let it finish them, unreported */
        while (IMB_FLUSH_JOB(b->mgr))
            ;
        free_mb_mgr(b->mgr);
    }
#endif
    free(b);
}

static void report(bl_sha1_batch *b, uint64_t tag, const uint8_t md[BL_SHA1_LEN])
{
    b->waiting--;
    b->in_done = true;
    b->done(b->arg, tag, md);
    b->in_done = false;
}

#ifdef BL_HAVE_IPSEC_MB
/* Report every finished job the library hands back, starting with job.
 * Returns the length of the last one reported (0: none). */
static size_t drain(bl_sha1_batch *b, IMB_JOB *job, bool flush)
{
    size_t last = 0;
    for (;;) {
        if (!job)
            job = flush ? IMB_FLUSH_JOB(b->mgr) : IMB_GET_COMPLETED_JOB(b->mgr);
        if (!job)
            return last;
        struct slot *sl = job->user_data;
        /* A failed job can only be a bad argument, which submit rules out;
         * if the library ever refuses one, hash it here instead. */
        if (job->status != IMB_STATUS_COMPLETED)
            bl_sha1(job->src, job->msg_len_to_hash_in_bytes, sl->md);
        uint64_t tag = sl->tag;
        uint8_t md[BL_SHA1_LEN];
        memcpy(md, sl->md, sizeof md);
        last = sl->len;
        sl->busy = false;
        sl->next_free = b->free_slots;
        b->free_slots = sl;
        report(b, tag, md);
        job = NULL;
    }
}

/* True if every job still in the library is len bytes long. */
static bool all_waiting_are(const bl_sha1_batch *b, size_t len)
{
    for (int i = 0; i < SLOTS; i++)
        if (b->slots[i].busy && b->slots[i].len != len)
            return false;
    return true;
}
#endif

int bl_sha1_batch_submit(bl_sha1_batch *b, const void *data, size_t len, uint64_t tag,
                         bl_err *err)
{
    if (b->in_done)
        return bl_fail(err, "sha1 batch: submit from inside a completion");
    b->waiting++;
#ifdef BL_HAVE_IPSEC_MB
    if (b->mgr && len > 0 && len <= BL_SHA1_BATCH_MAX_LEN) {
        if (!b->free_slots)
            bl_sha1_batch_flush(b);
        struct slot *sl = b->free_slots;
        b->free_slots = sl->next_free;
        sl->tag = tag;
        sl->len = len;
        sl->busy = true;
        IMB_JOB *job = IMB_GET_NEXT_JOB(b->mgr);
        memset(job, 0, sizeof *job);
        job->cipher_mode = IMB_CIPHER_NULL;
        job->cipher_direction = IMB_DIR_ENCRYPT;
        job->chain_order = IMB_ORDER_HASH_CIPHER;
        job->hash_alg = IMB_AUTH_SHA_1;
        job->src = data;
        job->msg_len_to_hash_in_bytes = len;
        job->auth_tag_output = sl->md;
        job->auth_tag_output_len_in_bytes = BL_SHA1_LEN;
        job->user_data = sl;
        /* The library hands back one finished job per call, even when the
         * whole set of lanes was hashed together; the others would wait for
         * later submits.  When every job in the lanes had the length of the
         * one just finished, they are all done and a flush costs no
         * hashing: report them now. */
        size_t finished = drain(b, IMB_SUBMIT_JOB(b->mgr), false);
        if (finished && all_waiting_are(b, finished))
            drain(b, NULL, true);
        return 0;
    }
#endif
    uint8_t md[BL_SHA1_LEN];
    bl_sha1(data, len, md);
    report(b, tag, md);
    return 0;
}

void bl_sha1_batch_flush(bl_sha1_batch *b)
{
#ifdef BL_HAVE_IPSEC_MB
    if (b->mgr && b->waiting && !b->in_done)
        drain(b, NULL, true);
#else
    (void)b;
#endif
}

unsigned bl_sha1_batch_waiting(const bl_sha1_batch *b) { return b->waiting; }
unsigned bl_sha1_batch_lanes(const bl_sha1_batch *b) { return b->lanes; }
