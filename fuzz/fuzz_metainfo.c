/* libFuzzer target: the description file parser.
 *
 * bl_metainfo_parse takes ownership of a malloc'd buffer, so each input is
 * copied to an exact-size allocation (ASan then sees any over-read).  When a
 * file parses, its accessors are walked so that the invariants the rest of
 * bitlib relies on are checked: files tile the byte stream, pieces cover it,
 * entries resolve by path, piece ranges stay inside the piece count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/metainfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_metainfo: %s\n", what);
    abort();
}

static void walk(const bl_metainfo *mi)
{
    if (!mi->name || mi->piece_length == 0 || !mi->piece_hashes)
        die("parsed without name, piece length or hashes");
    uint64_t at = 0;
    for (size_t f = 0; f < mi->num_files; f++) {
        const bl_mfile *mf = &mi->files[f];
        if (!mf->path || mf->offset != at)
            die("files do not tile the byte stream");
        at += mf->length;
        if (!bl_utf8_valid(mf->path, strlen(mf->path)))
            die("file path is not UTF-8");
        if (mf->entry >= 0 && (size_t)mf->entry >= mi->num_entries)
            die("file entry index out of range");
        uint32_t first, last;
        bl_metainfo_piece_range(mi, f, 0, mf->length, &first, &last);
        if (mf->length && (first > last || last >= mi->num_pieces))
            die("piece range outside the piece count");
        if (mf->length > 1) {
            bl_metainfo_piece_range(mi, f, mf->length - 1, 1, &first, &last);
            if (first != last || last >= mi->num_pieces)
                die("last byte's piece out of range");
        }
    }
    if (at != mi->total_length)
        die("total length is not the sum of the files");
    if (mi->num_pieces != (mi->total_length + mi->piece_length - 1) / mi->piece_length)
        die("piece count does not cover the total length");
    uint64_t sum = 0;
    for (uint32_t i = 0; i < mi->num_pieces; i++) {
        uint32_t ps = bl_metainfo_piece_size(mi, i);
        if (ps == 0 || ps > mi->piece_length)
            die("bad piece size");
        sum += ps;
    }
    if (sum != mi->total_length)
        die("piece sizes do not add up to the total length");
    for (size_t e = 0; e < mi->num_entries; e++) {
        const bl_mentry *me = &mi->entries[e];
        if (!me->path)
            die("entry without a path");
        if (bl_metainfo_lookup(mi, me->path) != me)
            die("entry not found by its own path");
        if (me->file >= 0 && (size_t)me->file >= mi->num_files)
            die("entry file index out of range");
    }
    if (mi->num_entries && mi->entries[0].path[0] != 0)
        die("entries[0] is not the root");
    if (mi->info_off + mi->info_len > mi->raw_len)
        die("info span outside the file");
    for (size_t t = 0; t < mi->num_tiers; t++)
        for (char **u = mi->tiers[t]; *u; u++)
            (void)strlen(*u);
    for (size_t p = 0; p < mi->num_prefetch; p++)
        (void)strlen(mi->prefetch[p]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *raw = malloc(size ? size : 1);
    if (!raw)
        return 0;
    if (size)
        memcpy(raw, data, size);
    bl_metainfo mi;
    bl_err err;
    if (bl_metainfo_parse(&mi, raw, size, &err) == 0) { /* raw is owned by mi now */
        walk(&mi);
        bl_metainfo_free(&mi);
    } else if (strchr(err.msg, '\n')) {
        die("error message has a newline");
    }
    return 0;
}
