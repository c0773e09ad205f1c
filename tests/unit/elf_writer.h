/* elf_writer.h: a tiny ELF writer for unit tests, independent of the reader
 * under test (meta/elf.c): one image of up to 4 KiB with DT_NEEDED, SONAME,
 * RPATH, RUNPATH and PT_INTERP as a spec says.  Included by the tests that
 * need hand-built objects (static functions: one copy per test binary). */
#ifndef BL_TEST_ELF_WRITER_H
#define BL_TEST_ELF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct spec {
    bool is64, be;
    uint16_t machine;
    const char *needed[8];
    const char *soname, *rpath, *runpath, *interp;
    bool strtab_by_section;     /* DT_STRTAB in no PT_LOAD; only a section header finds it */
} spec;

typedef struct wbuf {
    uint8_t b[4096];
    bool be;
} wbuf;

static void put(wbuf *w, size_t off, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++) {
        unsigned shift = 8 * (w->be ? width - 1 - i : i);
        w->b[off + i] = (uint8_t)(v >> shift);
    }
}

static size_t build_elf(const spec *s, uint8_t *out)
{
    static wbuf w;
    memset(&w, 0, sizeof w);
    w.be = s->be;
    unsigned ws = s->is64 ? 8 : 4;
    size_t ehsize = s->is64 ? 64 : 52, phsz = s->is64 ? 56 : 32, dynent = 2 * ws;
    size_t shsz = s->is64 ? 64 : 40;
    const uint64_t base = 0x400000;

    /* string table */
    char str[1024] = {0};
    size_t sl = 1;
    uint64_t offs[8], so = 0, ro = 0, rn = 0, io = 0;
    size_t nn = 0;
#define ADDSTR(x, dst) do { dst = sl; strcpy(str + sl, x); sl += strlen(x) + 1; } while (0)
    for (; nn < 8 && s->needed[nn]; nn++)
        ADDSTR(s->needed[nn], offs[nn]);
    if (s->soname) ADDSTR(s->soname, so);
    if (s->rpath) ADDSTR(s->rpath, ro);
    if (s->runpath) ADDSTR(s->runpath, rn);
    if (s->interp) ADDSTR(s->interp, io);
#undef ADDSTR
    size_t nph = s->interp ? 3 : 2;
    size_t ndyn = nn + !!s->soname + !!s->rpath + !!s->runpath + 3;
    size_t phoff = ehsize, dynoff = phoff + nph * phsz, stroff = dynoff + ndyn * dynent;
    size_t shoff = stroff + sl, total = shoff + (s->strtab_by_section ? 2 * shsz : 0);
    uint64_t strva = s->strtab_by_section ? 0x900000 : base + stroff;
    size_t load_sz = s->strtab_by_section ? stroff : total;

    memcpy(w.b, "\177ELF", 4);
    w.b[4] = s->is64 ? 2 : 1;
    w.b[5] = s->be ? 2 : 1;
    w.b[6] = 1;
    put(&w, 16, 3, 2);                  /* ET_DYN */
    put(&w, 18, s->machine, 2);
    put(&w, 20, 1, 4);
    size_t b = s->is64 ? 32 : 28;
    put(&w, b, phoff, ws);
    put(&w, b + ws, s->strtab_by_section ? shoff : 0, ws);
    size_t q = b + 2 * ws + 4;
    put(&w, q, ehsize, 2);
    put(&w, q + 2, phsz, 2);
    put(&w, q + 4, nph, 2);
    put(&w, q + 6, shsz, 2);
    put(&w, q + 8, s->strtab_by_section ? 2 : 0, 2);

    struct { uint32_t type; uint64_t off, va, sz; } ph[3] = {
        {1, 0, base, load_sz},
        {2, dynoff, base + dynoff, ndyn * dynent},
        {3, stroff + io, base + stroff + io, s->interp ? strlen(s->interp) + 1 : 0},
    };
    for (size_t i = 0; i < nph; i++) {
        size_t o = phoff + i * phsz;
        put(&w, o, ph[i].type, 4);
        if (s->is64) {
            put(&w, o + 8, ph[i].off, 8);
            put(&w, o + 16, ph[i].va, 8);
            put(&w, o + 32, ph[i].sz, 8);
            put(&w, o + 40, ph[i].sz, 8);
        } else {
            put(&w, o + 4, ph[i].off, 4);
            put(&w, o + 8, ph[i].va, 4);
            put(&w, o + 16, ph[i].sz, 4);
            put(&w, o + 20, ph[i].sz, 4);
        }
    }
    size_t d = dynoff;
#define DYN(tag, val) do { put(&w, d, tag, ws); put(&w, d + ws, val, ws); d += dynent; } while (0)
    for (size_t i = 0; i < nn; i++)
        DYN(1, offs[i]);
    if (s->soname) DYN(14, so);
    if (s->rpath) DYN(15, ro);
    if (s->runpath) DYN(29, rn);
    DYN(5, strva);
    DYN(10, sl);
    DYN(0, 0);
#undef DYN
    memcpy(w.b + stroff, str, sl);
    if (s->strtab_by_section) {
        size_t o = shoff + shsz;       /* section 1: the string table */
        put(&w, o + 4, 3, 4);
        if (s->is64) {
            put(&w, o + 16, strva, 8);
            put(&w, o + 24, stroff, 8);
            put(&w, o + 32, sl, 8);
        } else {
            put(&w, o + 12, strva, 4);
            put(&w, o + 16, stroff, 4);
            put(&w, o + 20, sl, 4);
        }
    }
    memcpy(out, w.b, total);
    return total;
}

#endif
