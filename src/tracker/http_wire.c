#include "tracker/http_wire.h"

#include <stdlib.h>
#include <string.h>

#include "core/bencode.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long bl_trk_url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o == cap)
            return -2;
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return -1;
            out[o++] = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = (uint8_t)s[i];
        }
    }
    return (long)o;
}

/* One raw (still escaped) parameter. */
struct param {
    const char *key, *val;
    size_t klen, vlen;
};

static int split_query(const char *q, size_t len, struct param *ps, size_t *np, bl_err *err)
{
    if (len > BL_TRK_QUERY_MAX)
        return bl_fail(err, "query too long (%zu bytes, limit %d)", len, BL_TRK_QUERY_MAX);
    size_t n = 0, i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        if (end > i) {
            if (n == BL_TRK_QUERY_PARAMS)
                return bl_fail(err, "too many query parameters (limit %d)", BL_TRK_QUERY_PARAMS);
            const char *eq = memchr(q + i, '=', end - i);
            ps[n].key = q + i;
            ps[n].klen = eq ? (size_t)(eq - (q + i)) : end - i;
            ps[n].val = eq ? eq + 1 : q + end;
            ps[n].vlen = eq ? (size_t)(q + end - (eq + 1)) : 0;
            n++;
        }
        i = end + 1;
    }
    *np = n;
    return 0;
}

/* Parameter names are plain ASCII in practice; compare them decoded anyway. */
static bool key_is(const struct param *p, const char *name)
{
    uint8_t k[32];
    long kl = bl_trk_url_decode(p->key, p->klen, k, sizeof k);
    return kl >= 0 && (size_t)kl == strlen(name) && !memcmp(k, name, (size_t)kl);
}

static int get_bytes20(const struct param *p, const char *name, uint8_t out[20], bl_err *err)
{
    uint8_t tmp[21];
    long n = bl_trk_url_decode(p->val, p->vlen, tmp, sizeof tmp);
    if (n == -2)
        return bl_fail(err, "%s must be 20 bytes", name);
    if (n < 0)
        return bl_fail(err, "%s: bad %%-escape", name);
    if (n != 20)
        return bl_fail(err, "%s must be 20 bytes, got %ld", name, n);
    memcpy(out, tmp, 20);
    return 0;
}

static int get_u64(const struct param *p, const char *name, uint64_t *out, bl_err *err)
{
    char tmp[24];
    long n = bl_trk_url_decode(p->val, p->vlen, (uint8_t *)tmp, sizeof tmp - 1);
    if (n <= 0 || n > 20)
        return bl_fail(err, "%s must be a decimal number", name);
    uint64_t v = 0;
    for (long i = 0; i < n; i++) {
        if (tmp[i] < '0' || tmp[i] > '9')
            return bl_fail(err, "%s must be a decimal number", name);
        unsigned d = (unsigned)(tmp[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return bl_fail(err, "%s is out of range", name);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A short textual value (event, compact...) decoded into a C string. */
static int get_word(const struct param *p, char *out, size_t cap)
{
    long n = bl_trk_url_decode(p->val, p->vlen, (uint8_t *)out, cap - 1);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return (size_t)n == strlen(out) ? 0 : -1;   /* no embedded NUL */
}

int bl_trk_http_parse_announce(const char *q, size_t len, bl_trk_announce *a, bl_err *err)
{
    struct param ps[BL_TRK_QUERY_PARAMS];
    size_t np;
    if (split_query(q, len, ps, &np, err))
        return -1;
    memset(a, 0, sizeof *a);
    a->compact = true;
    a->numwant = -1;
    a->left = 1;
    bool have_hash = false, have_id = false, have_port = false;
    for (size_t i = 0; i < np; i++) {
        const struct param *p = &ps[i];
        char w[48];
        uint64_t v;
        if (key_is(p, "info_hash")) {
            if (have_hash)
                return bl_fail(err, "info_hash given twice");
            if (get_bytes20(p, "info_hash", a->info_hash, err))
                return -1;
            have_hash = true;
        } else if (key_is(p, "peer_id")) {
            if (have_id)
                return bl_fail(err, "peer_id given twice");
            if (get_bytes20(p, "peer_id", a->peer_id, err))
                return -1;
            have_id = true;
        } else if (key_is(p, "port")) {
            if (get_u64(p, "port", &v, err))
                return -1;
            if (v == 0 || v > 65535)
                return bl_fail(err, "port must be in 1..65535");
            a->addr.port = (uint16_t)v;
            have_port = true;
        } else if (key_is(p, "uploaded")) {
            if (get_u64(p, "uploaded", &a->uploaded, err))
                return -1;
        } else if (key_is(p, "downloaded")) {
            if (get_u64(p, "downloaded", &a->downloaded, err))
                return -1;
        } else if (key_is(p, "left")) {
            if (get_u64(p, "left", &a->left, err))
                return -1;
        } else if (key_is(p, "numwant")) {
            if (get_u64(p, "numwant", &v, err))
                return -1;
            a->numwant = v > INT32_MAX ? INT32_MAX : (int32_t)v;
        } else if (key_is(p, "event")) {
            if (get_word(p, w, sizeof w))
                return bl_fail(err, "unknown event");
            if (!strcmp(w, "started"))
                a->event = BL_TRK_EV_STARTED;
            else if (!strcmp(w, "completed"))
                a->event = BL_TRK_EV_COMPLETED;
            else if (!strcmp(w, "stopped"))
                a->event = BL_TRK_EV_STOPPED;
            else if (!strcmp(w, "") || !strcmp(w, "empty") || !strcmp(w, "paused"))
                a->event = BL_TRK_EV_NONE;
            else
                return bl_fail(err, "unknown event");
        } else if (key_is(p, "compact")) {
            if (get_word(p, w, sizeof w) || (strcmp(w, "0") && strcmp(w, "1")))
                return bl_fail(err, "compact must be 0 or 1");
            a->compact = w[0] == '1';
        } else if (key_is(p, "no_peer_id")) {
            a->no_peer_id = get_word(p, w, sizeof w) == 0 && strcmp(w, "0") != 0;
        } else if (key_is(p, "ip")) {
            char ip[64];
            uint16_t port = a->addr.port;
            if (get_word(p, ip, sizeof ip) == 0 &&
                bl_trk_addr_parse_ip(&a->addr, ip, strlen(ip)) == 0)
                a->has_ip = true;
            a->addr.port = port;
        } else if (key_is(p, "passkey")) {
            if (get_word(p, a->passkey, sizeof a->passkey))
                return bl_fail(err, "passkey: at most %d characters", BL_TRK_PASSKEY_MAX);
        } else if (key_is(p, "key")) {
            /* Opaque to us; keep a hash of it (UDP carries a 32-bit key). */
            uint8_t k[64];
            long kl = bl_trk_url_decode(p->val, p->vlen, k, sizeof k);
            uint32_t h = 2166136261u;
            for (long j = 0; j < kl; j++)
                h = (h ^ k[j]) * 16777619u;
            a->key = h;
        }
    }
    if (!have_hash)
        return bl_fail(err, "missing info_hash");
    if (!have_id)
        return bl_fail(err, "missing peer_id");
    if (!have_port)
        return bl_fail(err, "missing port");
    return 0;
}

int bl_trk_http_parse_scrape(const char *q, size_t len, uint8_t (*hashes)[BL_TRK_HASH_LEN],
                             size_t max, size_t *n, bl_err *err)
{
    struct param ps[BL_TRK_QUERY_PARAMS];
    size_t np;
    *n = 0;
    if (split_query(q, len, ps, &np, err))
        return -1;
    for (size_t i = 0; i < np; i++) {
        if (!key_is(&ps[i], "info_hash"))
            continue;
        if (*n == max)
            return bl_fail(err, "too many info_hash values (limit %zu)", max);
        if (get_bytes20(&ps[i], "info_hash", hashes[*n], err))
            return -1;
        (*n)++;
    }
    if (*n == 0)
        return bl_fail(err, "scrape needs at least one info_hash (no full scrape here)");
    return 0;
}

void bl_trk_http_reply_announce(bl_buf *b, const bl_trk_counts *c, uint32_t interval,
                                uint32_t min_interval, const bl_trk_peer_out *peers, size_t n,
                                bool compact, bool no_peer_id)
{
    bl_benc_dict(b);
    bl_benc_cstr(b, "complete");
    bl_benc_int(b, c->complete);
    bl_benc_cstr(b, "incomplete");
    bl_benc_int(b, c->incomplete);
    bl_benc_cstr(b, "interval");
    bl_benc_int(b, interval);
    bl_benc_cstr(b, "min interval");
    bl_benc_int(b, min_interval);
    bl_benc_cstr(b, "peers");
    if (compact) {
        size_t n4 = 0, n6 = 0;
        for (size_t i = 0; i < n; i++)
            peers[i].addr.family == 4 ? n4++ : n6++;
        bl_buf_printf(b, "%zu:", n4 * BL_TRK_COMPACT4);
        for (size_t i = 0; i < n; i++) {
            uint8_t cp[BL_TRK_COMPACT6];
            if (peers[i].addr.family == 4)
                bl_buf_put(b, cp, bl_trk_addr_compact(&peers[i].addr, cp));
        }
        if (n6) {
            bl_benc_cstr(b, "peers6");
            bl_buf_printf(b, "%zu:", n6 * BL_TRK_COMPACT6);
            for (size_t i = 0; i < n; i++) {
                uint8_t cp[BL_TRK_COMPACT6];
                if (peers[i].addr.family == 6)
                    bl_buf_put(b, cp, bl_trk_addr_compact(&peers[i].addr, cp));
            }
        }
    } else {
        bl_benc_list(b);
        for (size_t i = 0; i < n; i++) {
            char ip[64];
            bl_benc_dict(b);
            bl_benc_cstr(b, "ip");
            bl_benc_cstr(b, bl_trk_addr_ipstr(&peers[i].addr, ip, sizeof ip));
            if (!no_peer_id) {
                bl_benc_cstr(b, "peer id");
                bl_benc_str(b, peers[i].peer_id, 20);
            }
            bl_benc_cstr(b, "port");
            bl_benc_int(b, peers[i].addr.port);
            bl_benc_end(b);
        }
        bl_benc_end(b);
    }
    bl_benc_end(b);
}

void bl_trk_http_reply_failure(bl_buf *b, const char *reason)
{
    bl_benc_dict(b);
    bl_benc_cstr(b, "failure reason");
    bl_benc_cstr(b, reason);
    bl_benc_end(b);
}

void bl_trk_http_reply_scrape(bl_buf *b, uint8_t (*hashes)[BL_TRK_HASH_LEN], bl_trk_counts *counts,
                              size_t n)
{
    /* Dictionary keys must be sorted: insertion sort, n is small. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && memcmp(hashes[j - 1], hashes[j], 20) > 0; j--) {
            uint8_t th[20];
            bl_trk_counts tc = counts[j];
            memcpy(th, hashes[j], 20);
            memcpy(hashes[j], hashes[j - 1], 20);
            counts[j] = counts[j - 1];
            memcpy(hashes[j - 1], th, 20);
            counts[j - 1] = tc;
        }
    }
    bl_benc_dict(b);
    bl_benc_cstr(b, "files");
    bl_benc_dict(b);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !memcmp(hashes[i - 1], hashes[i], 20))
            continue;
        bl_benc_str(b, hashes[i], 20);
        bl_benc_dict(b);
        bl_benc_cstr(b, "complete");
        bl_benc_int(b, counts[i].complete);
        bl_benc_cstr(b, "downloaded");
        bl_benc_int(b, counts[i].downloaded);
        bl_benc_cstr(b, "incomplete");
        bl_benc_int(b, counts[i].incomplete);
        bl_benc_end(b);
    }
    bl_benc_end(b);
    bl_benc_end(b);
}
