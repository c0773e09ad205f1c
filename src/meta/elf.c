/* elf: see meta/elf.h.
 *
 * Only what the loader looks at is read (ELF
 * header, program headers PT_LOAD/PT_DYNAMIC/PT_INTERP, the dynamic array and
 * its string table).  Section headers are a fallback for files whose DT_STRTAB
 * address is in no PT_LOAD (or that have no PT_DYNAMIC).  Every offset, size
 * and count is checked against the image length before use, in arithmetic
 * that cannot overflow. */
#include "meta/elf.h"

#include <stdlib.h>
#include <string.h>

enum {
    PT_LOAD_ = 1, PT_DYNAMIC_ = 2, PT_INTERP_ = 3,
    SHT_STRTAB_ = 3, SHT_DYNAMIC_ = 6,
    DT_NULL_ = 0, DT_NEEDED_ = 1, DT_STRTAB_ = 5, DT_STRSZ_ = 10, DT_SONAME_ = 14,
    DT_RPATH_ = 15, DT_RUNPATH_ = 29,
    PN_XNUM_ = 0xffff,
};

typedef struct image {
    const uint8_t *p;
    size_t len;
    bool be, is64;
} image;

/* Caller has checked off + width <= len. */
static uint64_t rd(const image *m, size_t off, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) {
        unsigned b = m->be ? i : width - 1 - i;
        v = (v << 8) | m->p[off + b];
    }
    return v;
}

/* Is [off, off+size) inside the image? */
static bool in_image(const image *m, uint64_t off, uint64_t size)
{
    return off <= m->len && size <= m->len - off;
}

/* Read a word of the class's natural width (4 or 8 bytes). */
static uint64_t rdw(const image *m, size_t off) { return rd(m, off, m->is64 ? 8 : 4); }

typedef struct seg {
    uint64_t type, offset, vaddr, filesz;
} seg;

typedef struct sect {
    uint64_t type, addr, offset, size, link;
} sect;

typedef struct hdrs {
    uint64_t phoff, phnum, phentsize;
    uint64_t shoff, shnum, shentsize;
    bool sections_ok;
} hdrs;

static seg read_phdr(const image *m, const hdrs *h, uint64_t i)
{
    size_t o = (size_t)(h->phoff + i * h->phentsize);
    seg s;
    s.type = rd(m, o, 4);
    if (m->is64) {
        s.offset = rd(m, o + 8, 8);
        s.vaddr = rd(m, o + 16, 8);
        s.filesz = rd(m, o + 32, 8);
    } else {
        s.offset = rd(m, o + 4, 4);
        s.vaddr = rd(m, o + 8, 4);
        s.filesz = rd(m, o + 16, 4);
    }
    return s;
}

static sect read_shdr(const image *m, const hdrs *h, uint64_t i)
{
    size_t o = (size_t)(h->shoff + i * h->shentsize);
    sect s;
    s.type = rd(m, o + 4, 4);
    if (m->is64) {
        s.addr = rd(m, o + 16, 8);
        s.offset = rd(m, o + 24, 8);
        s.size = rd(m, o + 32, 8);
        s.link = rd(m, o + 40, 4);
    } else {
        s.addr = rd(m, o + 12, 4);
        s.offset = rd(m, o + 16, 4);
        s.size = rd(m, o + 20, 4);
        s.link = rd(m, o + 24, 4);
    }
    return s;
}

static int read_headers(const image *m, bl_elfinfo *out, hdrs *h, bl_err *err)
{
    size_t ehsize = m->is64 ? 64 : 52;
    if (m->len < ehsize)
        return bl_fail(err, "ELF header truncated (%zu bytes, need %zu)", m->len, ehsize);
    out->type = (uint16_t)rd(m, 16, 2);
    out->machine = (uint16_t)rd(m, 18, 2);
    if (rd(m, 20, 4) != 1)
        return bl_fail(err, "unknown ELF version %u", (unsigned)rd(m, 20, 4));
    size_t w = m->is64 ? 8 : 4;
    size_t b = m->is64 ? 32 : 28;   /* offset of e_phoff */
    h->phoff = rdw(m, b);
    h->shoff = rdw(m, b + w);
    size_t q = b + 2 * w + 4 + 2;   /* skip e_flags, e_ehsize */
    h->phentsize = rd(m, q, 2);
    h->phnum = rd(m, q + 2, 2);
    h->shentsize = rd(m, q + 4, 2);
    h->shnum = rd(m, q + 6, 2);

    /* Section headers are optional for us; remember whether they are usable. */
    size_t shmin = m->is64 ? 64 : 40;
    h->sections_ok = false;
    if (h->shoff != 0 && h->shentsize >= shmin && in_image(m, h->shoff, h->shentsize)) {
        if (h->shnum == 0 || h->phnum == PN_XNUM_) {
            sect s0 = read_shdr(m, h, 0);
            if (h->shnum == 0)
                h->shnum = s0.size;     /* extended section count */
            if (h->phnum == PN_XNUM_) {
                /* extended program header count sits in section 0's sh_info */
                size_t o = (size_t)h->shoff + (m->is64 ? 44 : 28);
                h->phnum = rd(m, o, 4);
            }
        }
        if (h->shnum <= (m->len - h->shoff) / h->shentsize)
            h->sections_ok = true;
    }
    if (h->phnum == PN_XNUM_)
        return bl_fail(err, "extended program header count without a usable section 0");

    size_t phmin = m->is64 ? 56 : 32;
    if (h->phnum > 0) {
        if (h->phentsize < phmin)
            return bl_fail(err, "program header entry size %u is too small",
                           (unsigned)h->phentsize);
        if (h->phoff > m->len || h->phnum > (m->len - h->phoff) / h->phentsize)
            return bl_fail(err, "program headers (%llu at offset %llu) run past the end of the file",
                           (unsigned long long)h->phnum, (unsigned long long)h->phoff);
    }
    return 0;
}

/* Map a virtual address to a file offset through PT_LOAD; *avail gets how
 * many file bytes the segment holds from there.  Returns false if unmapped. */
static bool vaddr_to_off(const image *m, const hdrs *h, uint64_t va, uint64_t *off, uint64_t *avail)
{
    for (uint64_t i = 0; i < h->phnum; i++) {
        seg s = read_phdr(m, h, i);
        if (s.type != PT_LOAD_ || va < s.vaddr || va - s.vaddr >= s.filesz)
            continue;
        uint64_t delta = va - s.vaddr;
        if (s.offset > m->len || delta > m->len - s.offset)
            continue;
        *off = s.offset + delta;
        *avail = s.filesz - delta;
        if (*avail > m->len - *off)
            *avail = m->len - *off;
        return true;
    }
    return false;
}

/* Copy a NUL-terminated string at offset o of a table [base, base+size). */
static char *table_str(const image *m, uint64_t base, uint64_t size, uint64_t o, const char *what,
                       bl_err *err)
{
    if (o >= size) {
        bl_fail(err, "%s string offset %llu is past the string table (%llu bytes)", what,
                (unsigned long long)o, (unsigned long long)size);
        return NULL;
    }
    const uint8_t *s = m->p + base + o;
    uint64_t room = size - o;
    if (room > BL_ELF_MAX_STR + 1)
        room = BL_ELF_MAX_STR + 1;
    const uint8_t *nul = memchr(s, 0, (size_t)room);
    if (!nul) {
        bl_fail(err, "%s string at offset %llu is unterminated or longer than %d bytes", what,
                (unsigned long long)o, BL_ELF_MAX_STR);
        return NULL;
    }
    char *c = strndup((const char *)s, (size_t)(nul - s));
    if (!c)
        bl_fail(err, "out of memory");
    return c;
}

void bl_elfinfo_free(bl_elfinfo *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->nneeded; i++)
        free(info->needed[i]);
    free(info->needed);
    free(info->soname);
    free(info->rpath);
    free(info->runpath);
    free(info->interp);
    memset(info, 0, sizeof *info);
}

static int read_interp(const image *m, const hdrs *h, bl_elfinfo *out, bl_err *err)
{
    for (uint64_t i = 0; i < h->phnum; i++) {
        seg s = read_phdr(m, h, i);
        if (s.type != PT_INTERP_)
            continue;
        if (!in_image(m, s.offset, s.filesz) || s.filesz == 0)
            return bl_fail(err, "PT_INTERP (%llu bytes at %llu) lies outside the file",
                           (unsigned long long)s.filesz, (unsigned long long)s.offset);
        out->interp = table_str(m, s.offset, s.filesz, 0, "PT_INTERP", err);
        return out->interp ? 0 : -1;
    }
    return 0;
}

/* Where the dynamic array is: PT_DYNAMIC (the last one, as ld.so), else a
 * SHT_DYNAMIC section.  *strsec gets that section's sh_link or -1. */
static int find_dynamic(const image *m, const hdrs *h, uint64_t *off, uint64_t *size,
                        int64_t *strsec, bl_err *err)
{
    bool found = false;
    *strsec = -1;
    for (uint64_t i = 0; i < h->phnum; i++) {
        seg s = read_phdr(m, h, i);
        if (s.type == PT_DYNAMIC_) {
            *off = s.offset;
            *size = s.filesz;
            found = true;
        }
    }
    if (!found && h->sections_ok) {
        for (uint64_t i = 0; i < h->shnum; i++) {
            sect s = read_shdr(m, h, i);
            if (s.type == SHT_DYNAMIC_) {
                *off = s.offset;
                *size = s.size;
                *strsec = (int64_t)s.link;
                found = true;
                break;
            }
        }
    }
    if (!found)
        return 0;
    if (!in_image(m, *off, *size))
        return bl_fail(err, "dynamic section (%llu bytes at %llu) lies outside the file",
                       (unsigned long long)*size, (unsigned long long)*off);
    return 1;
}

/* Locate the dynamic string table: DT_STRTAB through PT_LOAD, else the
 * section whose address is DT_STRTAB, else the .dynamic section's link. */
static int find_strtab(const image *m, const hdrs *h, bool have_va, uint64_t va, uint64_t strsz,
                       int64_t strsec, uint64_t *base, uint64_t *size, bl_err *err)
{
    uint64_t avail;
    if (have_va && vaddr_to_off(m, h, va, base, &avail)) {
        *size = strsz && strsz < avail ? strsz : avail;
        return 0;
    }
    if (h->sections_ok) {
        for (uint64_t i = 0; i < h->shnum; i++) {
            sect s = read_shdr(m, h, i);
            bool match = s.type == SHT_STRTAB_ &&
                         ((have_va && s.addr == va) || (strsec >= 0 && (uint64_t)strsec == i));
            if (!match)
                continue;
            if (!in_image(m, s.offset, s.size))
                return bl_fail(err, "dynamic string table (%llu bytes at %llu) lies outside the file",
                               (unsigned long long)s.size, (unsigned long long)s.offset);
            *base = s.offset;
            *size = strsz && strsz < s.size ? strsz : s.size;
            return 0;
        }
    }
    if (!have_va)
        return bl_fail(err, "dynamic section has no DT_STRTAB");
    return bl_fail(err, "DT_STRTAB address 0x%llx is in no loaded segment", (unsigned long long)va);
}

static int read_dynamic(const image *m, const hdrs *h, bl_elfinfo *out, bl_err *err)
{
    uint64_t doff = 0, dsize = 0;
    int64_t strsec;
    int r = find_dynamic(m, h, &doff, &dsize, &strsec, err);
    if (r <= 0)
        return r;
    out->dynamic = true;
    size_t ent = m->is64 ? 16 : 8, w = m->is64 ? 8 : 4;
    uint64_t count = dsize / ent;

    /* Pass 1: the single-valued tags (the last one wins, as in ld.so) and
     * the number of DT_NEEDED entries. */
    uint64_t strtab = 0, strsz = 0, nneeded = 0;
    bool have_strtab = false;
    int64_t soname = -1, rpath = -1, runpath = -1;
    uint64_t n = 0;
    for (; n < count; n++) {
        size_t o = (size_t)(doff + n * ent);
        uint64_t tag = rdw(m, o), val = rdw(m, o + w);
        if (tag == DT_NULL_)
            break;
        switch (tag) {
        case DT_NEEDED_: nneeded++; break;
        case DT_STRTAB_: strtab = val; have_strtab = true; break;
        case DT_STRSZ_: strsz = val; break;
        case DT_SONAME_: soname = (int64_t)n; break;
        case DT_RPATH_: rpath = (int64_t)n; break;
        case DT_RUNPATH_: runpath = (int64_t)n; break;
        default: break;
        }
    }
    if (nneeded > BL_ELF_MAX_NEEDED)
        return bl_fail(err, "%llu DT_NEEDED entries (more than %d)", (unsigned long long)nneeded,
                       BL_ELF_MAX_NEEDED);
    if (nneeded == 0 && soname < 0 && rpath < 0 && runpath < 0)
        return 0;

    uint64_t sbase = 0, ssize = 0;
    if (find_strtab(m, h, have_strtab, strtab, strsz, strsec, &sbase, &ssize, err) < 0)
        return -1;

    struct { int64_t idx; char **dst; const char *what; } singles[] = {
        {soname, &out->soname, "DT_SONAME"},
        {rpath, &out->rpath, "DT_RPATH"},
        {runpath, &out->runpath, "DT_RUNPATH"},
    };
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        if (singles[i].idx < 0)
            continue;
        uint64_t val = rdw(m, (size_t)(doff + (uint64_t)singles[i].idx * ent) + w);
        *singles[i].dst = table_str(m, sbase, ssize, val, singles[i].what, err);
        if (!*singles[i].dst)
            return -1;
    }
    if (nneeded == 0)
        return 0;
    out->needed = calloc((size_t)nneeded, sizeof *out->needed);
    if (!out->needed)
        return bl_fail(err, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        size_t o = (size_t)(doff + i * ent);
        if (rdw(m, o) != DT_NEEDED_)
            continue;
        char *s = table_str(m, sbase, ssize, rdw(m, o + w), "DT_NEEDED", err);
        if (!s)
            return -1;
        out->needed[out->nneeded++] = s;
    }
    return 0;
}

int bl_elf_parse(const uint8_t *img, size_t len, bl_elfinfo *out, bl_err *err)
{
    memset(out, 0, sizeof *out);
    if (len < 16 || memcmp(img, "\177ELF", 4) != 0)
        return bl_fail(err, "not an ELF file (bad magic)");
    if (img[4] != 1 && img[4] != 2)
        return bl_fail(err, "unknown ELF class %u", img[4]);
    if (img[5] != 1 && img[5] != 2)
        return bl_fail(err, "unknown ELF byte order %u", img[5]);
    if (img[6] != 1)
        return bl_fail(err, "unknown ELF identification version %u", img[6]);
    image m = {img, len, img[5] == 2, img[4] == 2};
    out->elfclass = img[4];
    out->data = img[5];
    hdrs h = {0};
    if (read_headers(&m, out, &h, err) < 0 || read_interp(&m, &h, out, err) < 0 ||
        read_dynamic(&m, &h, out, err) < 0) {
        bl_elfinfo_free(out);
        return -1;
    }
    return 0;
}
