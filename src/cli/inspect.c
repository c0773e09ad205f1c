/* bitlib inspect: show a description file, human-readable or as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/sha1.h"
#include "meta/metainfo.h"

static const char usage_text[] =
    "usage: bitlib inspect [--json] FILE\n"
    "\n"
    "Show everything in a description file (any BitTorrent v1 .torrent): info-hash, pieces,\n"
    "trackers, mount point, prefetch list, and every file and directory with its mode.\n"
    "\n"
    "options:\n"
    "      --json    one JSON object: info_hash, name, piece_length, pieces, total_length,\n"
    "                private, trackers, tiers, mount, prefetch, env, files, directories\n"
    "  -h, --help    this text\n";

static void attr_string(unsigned attr, char out[8])
{
    size_t k = 0;
    if (attr & BL_ATTR_PAD) out[k++] = 'p';
    if (attr & BL_ATTR_EXEC) out[k++] = 'x';
    if (attr & BL_ATTR_SYMLINK) out[k++] = 'l';
    if (attr & BL_ATTR_HIDDEN) out[k++] = 'h';
    out[k] = '\0';
}

static void print_json(const bl_metainfo *mi, bl_buf *b)
{
    char hex[41];
    bl_hex(mi->info_hash, BL_SHA1_LEN, hex);
    bl_buf_printf(b, "{\"info_hash\":\"%s\",\"name\":", hex);
    bl_json_cstr(b, mi->name);
    bl_buf_printf(b, ",\"piece_length\":%llu,\"pieces\":%u,\"total_length\":%llu,"
                     "\"private\":%s,\"bitlib_metadata\":%s,\"trackers\":[",
                  (unsigned long long)mi->piece_length, mi->num_pieces,
                  (unsigned long long)mi->total_length, mi->is_private ? "true" : "false",
                  mi->has_bitlib_meta ? "true" : "false");
    bool first = true;
    for (size_t t = 0; t < mi->num_tiers; t++)
        for (char **u = mi->tiers[t]; *u; u++) {
            if (!first)
                bl_buf_putc(b, ',');
            first = false;
            bl_json_cstr(b, *u);
        }
    bl_buf_puts(b, "],\"tiers\":[");
    for (size_t t = 0; t < mi->num_tiers; t++) {
        bl_buf_puts(b, t ? ",[" : "[");
        for (char **u = mi->tiers[t]; *u; u++) {
            if (u != mi->tiers[t])
                bl_buf_putc(b, ',');
            bl_json_cstr(b, *u);
        }
        bl_buf_putc(b, ']');
    }
    bl_buf_puts(b, "],\"mount\":");
    bl_json_cstr(b, mi->mount);
    bl_buf_puts(b, ",\"prefetch\":[");
    for (size_t i = 0; i < mi->num_prefetch; i++) {
        if (i)
            bl_buf_putc(b, ',');
        bl_json_cstr(b, mi->prefetch[i]);
    }
    bl_buf_puts(b, "],\"env\":{");
    for (size_t i = 0; i < mi->num_env; i++) {
        bl_buf_puts(b, i ? "," : "");
        bl_json_cstr(b, mi->env[i].name);
        bl_buf_puts(b, ":[");
        for (size_t k = 0; k < mi->env[i].num_dirs; k++) {
            bl_buf_puts(b, k ? "," : "");
            bl_json_cstr(b, mi->env[i].dirs[k]);
        }
        bl_buf_putc(b, ']');
    }
    bl_buf_puts(b, "},\"created_by\":");
    bl_json_cstr(b, mi->created_by);
    bl_buf_printf(b, ",\"creation_date\":%lld,\"comment\":", (long long)mi->creation_date);
    bl_json_cstr(b, mi->comment);
    bl_buf_puts(b, ",\"files\":[");
    for (size_t i = 0; i < mi->num_files; i++) {
        const bl_mfile *f = &mi->files[i];
        const bl_mentry *e = f->entry >= 0 ? &mi->entries[f->entry] : NULL;
        char attr[8];
        attr_string(f->attr, attr);
        bl_buf_puts(b, i ? ",{\"path\":" : "{\"path\":");
        bl_json_cstr(b, f->path);
        bl_buf_printf(b, ",\"length\":%llu,\"offset\":%llu,\"attributes\":\"%s\",\"mode\":",
                      (unsigned long long)f->length, (unsigned long long)f->offset, attr);
        if (e)
            bl_buf_printf(b, "\"%04o\",\"mtime\":%lld", e->mode & 07777, (long long)e->mtime);
        else
            bl_buf_puts(b, "null,\"mtime\":null");
        if (e && e->target) {
            bl_buf_puts(b, ",\"symlink\":");
            bl_json_cstr(b, e->target);
        }
        bl_buf_putc(b, '}');
    }
    bl_buf_puts(b, "],\"directories\":[");
    first = true;
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!S_ISDIR(e->mode))
            continue;
        bl_buf_puts(b, first ? "{\"path\":" : ",{\"path\":");
        first = false;
        bl_json_cstr(b, e->path);
        bl_buf_printf(b, ",\"mode\":\"%04o\",\"mtime\":%lld}", e->mode & 07777,
                      (long long)e->mtime);
    }
    bl_buf_puts(b, "],\"symlinks\":[");
    first = true;
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!S_ISLNK(e->mode))
            continue;
        bl_buf_puts(b, first ? "{\"path\":" : ",{\"path\":");
        first = false;
        bl_json_cstr(b, e->path);
        bl_buf_puts(b, ",\"target\":");
        bl_json_cstr(b, e->target);
        bl_buf_putc(b, '}');
    }
    bl_buf_puts(b, "]}\n");
}

static void human_size(uint64_t v, char *out, size_t n)
{
    if (v >= (1ull << 30))
        snprintf(out, n, "%.2f GiB", (double)v / (1ull << 30));
    else if (v >= (1u << 20))
        snprintf(out, n, "%.2f MiB", (double)v / (1u << 20));
    else if (v >= (1u << 10))
        snprintf(out, n, "%.1f KiB", (double)v / (1u << 10));
    else
        snprintf(out, n, "%llu B", (unsigned long long)v);
}

static void mode_string(uint32_t m, char out[11])
{
    out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
    out[10] = '\0';
}

static void print_human(const bl_metainfo *mi, FILE *f)
{
    char hex[41], sz[32], pad[32], pl[32];
    bl_hex(mi->info_hash, BL_SHA1_LEN, hex);
    uint64_t padding = 0;
    size_t nfiles = 0;
    for (size_t i = 0; i < mi->num_files; i++) {
        if (mi->files[i].attr & BL_ATTR_PAD)
            padding += mi->files[i].length;
        else
            nfiles++;
    }
    human_size(mi->total_length - padding, sz, sizeof sz);
    human_size(padding, pad, sizeof pad);
    human_size(mi->piece_length, pl, sizeof pl);
    fprintf(f, "name:           %s\n", mi->name);
    fprintf(f, "info-hash:      %s\n", hex);
    fprintf(f, "data:           %s in %zu files (%s padding)\n", sz, nfiles, pad);
    fprintf(f, "pieces:         %u of %s\n", mi->num_pieces, pl);
    fprintf(f, "private:        %s\n", mi->is_private ? "yes (BEP 27)" : "no");
    fprintf(f, "file metadata:  %s\n", mi->has_bitlib_meta ? "bitlib (modes, mtimes, directories)"
                                                           : "none (defaults: read-only)");
    for (size_t t = 0; t < mi->num_tiers; t++)
        for (char **u = mi->tiers[t]; *u; u++)
            fprintf(f, "tracker:        tier %zu: %s\n", t + 1, *u);
    if (mi->num_tiers == 0)
        fprintf(f, "tracker:        none (peers must be given with --peer)\n");
    fprintf(f, "mount:          %s\n", mi->mount ? mi->mount : "(not set)");
    if (mi->created_by)
        fprintf(f, "created by:     %s\n", mi->created_by);
    if (mi->creation_date) {
        time_t t = (time_t)mi->creation_date;
        struct tm tm;
        char when[64];
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(f, "created:        %s\n", when);
    }
    if (mi->comment)
        fprintf(f, "comment:        %s\n", mi->comment);
    fprintf(f, "prefetch:       %zu paths\n", mi->num_prefetch);
    for (size_t i = 0; i < mi->num_prefetch; i++)
        fprintf(f, "  %s\n", mi->prefetch[i]);
    for (size_t i = 0; i < mi->num_env; i++) {
        fprintf(f, "env:            %s =", mi->env[i].name);
        for (size_t k = 0; k < mi->env[i].num_dirs; k++)
            fprintf(f, " %s", mi->env[i].dirs[k][0] ? mi->env[i].dirs[k] : ".");
        fputc('\n', f);
    }
    fprintf(f, "\n%-10s %12s %-16s %s\n", "mode", "size", "pieces", "path");
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        char ms[11], range[32] = "";
        mode_string(e->mode, ms);
        if (e->file >= 0 && mi->files[e->file].length) {
            uint32_t a, z;
            bl_metainfo_piece_range(mi, (size_t)e->file, 0, mi->files[e->file].length, &a, &z);
            snprintf(range, sizeof range, "%u-%u", a, z);
        }
        fprintf(f, "%s %12llu %-16s %s%s%s%s\n", ms, (unsigned long long)e->size, range,
                e->path[0] ? e->path : ".", S_ISDIR(e->mode) && e->path[0] ? "/" : "",
                e->target ? " -> " : "", e->target ? e->target : "");
    }
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    bool json = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'J': json = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return cli_bad_option("bitlib inspect", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "bitlib inspect: give exactly one FILE; see 'bitlib inspect --help'\n");
        return 2;
    }
    bl_metainfo mi;
    bl_err err = {.offset = 0};
    if (bl_metainfo_load(&mi, argv[optind], &err) < 0) {
        fprintf(stderr, "bitlib inspect: %s\n", err.msg);
        return 1;
    }
    if (json) {
        bl_buf b;
        bl_buf_init(&b);
        print_json(&mi, &b);
        fwrite(b.data, 1, b.len, stdout);
        bl_buf_free(&b);
    } else {
        print_human(&mi, stdout);
    }
    bl_metainfo_free(&mi);
    return fflush(stdout) == 0 ? 0 : 1;
}
