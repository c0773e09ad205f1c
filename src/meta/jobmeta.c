/* jobmeta: see jobmeta.h.  Keys are written in bencode's sorted order. */
#include "meta/jobmeta.h"

#include <time.h>

#include "core/bencode.h"
#include "core/version.h"

void bl_jobmeta_encode_head(const bl_jobmeta *j, bl_buf *b)
{
    bl_benc_dict(b);
    if (j->num_trackers) {
        bl_benc_cstr(b, "announce");
        bl_benc_cstr(b, j->trackers[0]);
        bl_benc_cstr(b, "announce-list");
        bl_benc_list(b);
        for (size_t i = 0; i < j->num_trackers; i++) {
            bl_benc_list(b);
            bl_benc_cstr(b, j->trackers[i]);
            bl_benc_end(b);
        }
        bl_benc_end(b);
    }
    if (j->num_env || j->mount || j->num_prefetch) {
        bl_benc_cstr(b, "bitlib");
        bl_benc_dict(b);
        if (j->num_env) {
            bl_benc_cstr(b, "env");
            bl_benc_dict(b);
            for (size_t i = 0; i < j->num_env; i++) {
                bl_benc_cstr(b, j->env[i].name);
                bl_benc_list(b);
                for (size_t k = 0; k < j->env[i].num_dirs; k++)
                    bl_benc_cstr(b, j->env[i].dirs[k]);
                bl_benc_end(b);
            }
            bl_benc_end(b);
        }
        if (j->mount) {
            bl_benc_cstr(b, "mount");
            bl_benc_cstr(b, j->mount);
        }
        if (j->num_prefetch) {
            bl_benc_cstr(b, "prefetch");
            bl_benc_list(b);
            for (size_t i = 0; i < j->num_prefetch; i++)
                bl_benc_cstr(b, j->prefetch[i]);
            bl_benc_end(b);
        }
        bl_benc_end(b);
    }
    if (j->comment) {
        bl_benc_cstr(b, "comment");
        bl_benc_cstr(b, j->comment);
    }
    bl_benc_cstr(b, "created by");
    bl_benc_cstr(b, "bitlib " BL_VERSION);
    bl_benc_cstr(b, "creation date");
    bl_benc_int(b, j->creation_date ? j->creation_date : (int64_t)time(NULL));
    bl_benc_cstr(b, "info");
}

void bl_jobmeta_of(const bl_metainfo *mi, bl_jobmeta *j, const char **tbuf,
                   size_t max_trackers)
{
    size_t n = 0;
    for (size_t t = 0; t < mi->num_tiers; t++)
        for (char **u = mi->tiers[t]; u && *u && n < max_trackers; u++)
            tbuf[n++] = *u;
    *j = (bl_jobmeta){
        .trackers = tbuf, .num_trackers = n, .mount = mi->mount,
        .prefetch = (const char *const *)mi->prefetch, .num_prefetch = mi->num_prefetch,
        .env = mi->env, .num_env = mi->num_env, .comment = mi->comment,
        .creation_date = mi->creation_date,
    };
}

int bl_jobmeta_rewrite(const bl_metainfo *mi, const bl_jobmeta *j, bl_buf *out, bl_err *err)
{
    bl_jobmeta_encode_head(j, out);
    bl_buf_put(out, mi->raw + mi->info_off, mi->info_len);
    bl_benc_end(out);
    return out->oom ? bl_fail(err, "out of memory") : 0;
}
