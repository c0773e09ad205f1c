#include "tracker/peer_table.h"

#include <stdlib.h>
#include <string.h>

/* Every stored thing (torrent, peer, whitelist entry) starts with this
 * header: its 20-byte key and its position in the owning set's dense array. */
struct item {
    uint8_t key[20];
    uint32_t pos;
};

/* An indexed set: an open-addressing hash index (linear probing, backward
 * shift deletion, load <= 1/2) over a dense array that iteration and random
 * sampling use. */
struct iset {
    struct item **slots;
    size_t mask;
    struct item **arr;
    size_t n, arrcap;
};

struct peer {
    struct item h;
    bl_trk_addr addr;
    uint64_t last_seen;
    bool seeder;
};

struct torrent {
    struct item h;
    struct iset peers;
    uint32_t seeders, downloaded;
    uint64_t empty_since;   /* when the last peer left (valid while peers.n == 0) */
};

struct bl_trk_table {
    bl_trk_limits lim;
    uint64_t hash_seed, rng;
    struct iset torrents;
    struct iset allowed;
    size_t npeers;
};

/* ---- indexed set ---- */

static uint64_t key_hash(const uint8_t *k, uint64_t seed)
{
    /* Peer ids are chosen by clients, so the hash is keyed. */
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (int i = 0; i < 20; i++)
        h = (h ^ k[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static struct item *iset_find(const struct iset *s, const uint8_t *key, uint64_t seed)
{
    if (!s->slots)
        return NULL;
    for (size_t i = key_hash(key, seed) & s->mask;; i = (i + 1) & s->mask) {
        struct item *it = s->slots[i];
        if (!it)
            return NULL;
        if (!memcmp(it->key, key, 20))
            return it;
    }
}

static void slot_put(struct item **slots, size_t mask, struct item *it, uint64_t seed)
{
    size_t i = key_hash(it->key, seed) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = it;
}

/* Add an item whose key is not present; false on allocation failure. */
static bool iset_add(struct iset *s, struct item *it, uint64_t seed)
{
    size_t cap = s->slots ? s->mask + 1 : 0;
    if ((s->n + 1) * 2 > cap) {
        size_t ncap = cap ? cap * 2 : 8;
        struct item **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return false;
        for (size_t i = 0; i < s->n; i++)
            slot_put(ns, ncap - 1, s->arr[i], seed);
        free(s->slots);
        s->slots = ns;
        s->mask = ncap - 1;
    }
    if (s->n == s->arrcap) {
        size_t ncap = s->arrcap ? s->arrcap * 2 : 4;
        struct item **na = realloc(s->arr, ncap * sizeof *na);
        if (!na)
            return false;
        s->arr = na;
        s->arrcap = ncap;
    }
    slot_put(s->slots, s->mask, it, seed);
    it->pos = (uint32_t)s->n;
    s->arr[s->n++] = it;
    return true;
}

static void iset_swap(struct iset *s, size_t i, size_t j)
{
    struct item *a = s->arr[i], *b = s->arr[j];
    s->arr[i] = b;
    s->arr[j] = a;
    b->pos = (uint32_t)i;
    a->pos = (uint32_t)j;
}

static void iset_remove(struct iset *s, struct item *it, uint64_t seed)
{
    size_t i = key_hash(it->key, seed) & s->mask;
    while (s->slots[i] != it)
        i = (i + 1) & s->mask;
    s->slots[i] = NULL;
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    for (size_t j = (i + 1) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
        size_t home = key_hash(s->slots[j]->key, seed) & s->mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            s->slots[j] = NULL;
            i = j;
        }
    }
    iset_swap(s, it->pos, s->n - 1);
    s->n--;
}

static void iset_free(struct iset *s)
{
    free(s->slots);
    free(s->arr);
    memset(s, 0, sizeof *s);
}

/* ---- table ---- */

void bl_trk_limits_defaults(bl_trk_limits *lim)
{
    if (!lim->max_torrents)
        lim->max_torrents = 100000;
    if (!lim->max_peers_per_torrent)
        lim->max_peers_per_torrent = 100000;
    if (!lim->max_peers_total)
        lim->max_peers_total = 1000000;
    if (!lim->peer_ttl_s)
        lim->peer_ttl_s = 3600;
    if (!lim->default_numwant)
        lim->default_numwant = 50;
    if (!lim->max_numwant)
        lim->max_numwant = 200;
}

static uint64_t rng_next(bl_trk_table *t)
{
    /* xorshift64*: fast, and good enough to spread peers over a swarm. */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

bl_trk_table *bl_trk_table_new(const bl_trk_limits *lim, uint64_t seed, bl_err *err)
{
    bl_trk_table *t = calloc(1, sizeof *t);
    if (!t) {
        bl_fail(err, "tracker table: out of memory");
        return NULL;
    }
    if (lim)
        t->lim = *lim;
    bl_trk_limits_defaults(&t->lim);
    t->hash_seed = seed * 0x9e3779b97f4a7c15ull + 1;
    t->rng = seed ? seed : 0x853c49e6748fea9bull;
    return t;
}

static void torrent_free(struct torrent *tor)
{
    for (size_t i = 0; i < tor->peers.n; i++)
        free(tor->peers.arr[i]);
    iset_free(&tor->peers);
    free(tor);
}

void bl_trk_table_free(bl_trk_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->torrents.n; i++)
        torrent_free((struct torrent *)t->torrents.arr[i]);
    iset_free(&t->torrents);
    bl_trk_table_allow_clear(t);
    free(t);
}

int bl_trk_table_allow(bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN], bl_err *err)
{
    if (iset_find(&t->allowed, info_hash, t->hash_seed))
        return 0;
    struct item *it = calloc(1, sizeof *it);
    if (!it)
        return bl_fail(err, "whitelist: out of memory");
    memcpy(it->key, info_hash, 20);
    if (!iset_add(&t->allowed, it, t->hash_seed)) {
        free(it);
        return bl_fail(err, "whitelist: out of memory");
    }
    return 0;
}

void bl_trk_table_allow_clear(bl_trk_table *t)
{
    for (size_t i = 0; i < t->allowed.n; i++)
        free(t->allowed.arr[i]);
    iset_free(&t->allowed);
}

bool bl_trk_table_allowed(const bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN])
{
    return t->allowed.n == 0 || iset_find(&t->allowed, info_hash, t->hash_seed) != NULL;
}

size_t bl_trk_table_numwant(const bl_trk_table *t, int32_t numwant)
{
    if (numwant < 0)
        return t->lim.default_numwant;
    return (uint32_t)numwant < t->lim.max_numwant ? (size_t)numwant : t->lim.max_numwant;
}

static void counts_of(const struct torrent *tor, bl_trk_counts *c)
{
    if (!tor) {
        memset(c, 0, sizeof *c);
        return;
    }
    c->complete = tor->seeders;
    c->incomplete = (uint32_t)tor->peers.n - tor->seeders;
    c->downloaded = tor->downloaded;
}

static void peer_remove(bl_trk_table *t, struct torrent *tor, struct peer *p)
{
    if (p->seeder)
        tor->seeders--;
    iset_remove(&tor->peers, &p->h, t->hash_seed);
    t->npeers--;
    free(p);
}

static void torrent_remove(bl_trk_table *t, struct torrent *tor)
{
    iset_remove(&t->torrents, &tor->h, t->hash_seed);
    t->npeers -= tor->peers.n;
    torrent_free(tor);
}

static bool alive(const bl_trk_table *t, const struct peer *p, uint64_t now_s)
{
    return now_s < p->last_seen + t->lim.peer_ttl_s;
}

/* Partial Fisher-Yates over the dense array with the requester parked at
 * the end: each draw is uniform among the peers not yet drawn. */
static size_t sample(bl_trk_table *t, struct torrent *tor, struct peer *self, uint64_t now_s,
                     int family, bl_trk_peer_out *out, size_t want)
{
    struct iset *s = &tor->peers;
    iset_swap(s, self->h.pos, s->n - 1);
    size_t m = s->n - 1, nout = 0;
    for (size_t i = 0; i < m && nout < want; i++) {
        size_t j = i + (size_t)(rng_next(t) % (m - i));
        iset_swap(s, i, j);
        const struct peer *q = (const struct peer *)s->arr[i];
        if (!alive(t, q, now_s) || (family && q->addr.family != family))
            continue;
        memcpy(out[nout].peer_id, q->h.key, 20);
        out[nout].addr = q->addr;
        nout++;
    }
    return nout;
}

int bl_trk_table_announce(bl_trk_table *t, const bl_trk_announce *a, uint64_t now_s, int family,
                          bl_trk_peer_out *out, size_t max_out, size_t *nout,
                          bl_trk_counts *counts, bl_err *err)
{
    *nout = 0;
    memset(counts, 0, sizeof *counts);
    if (!bl_trk_table_allowed(t, a->info_hash))
        return bl_fail(err, "info_hash is not served by this tracker");
    if (a->addr.family != 4 && a->addr.family != 6)
        return bl_fail(err, "no usable peer address");
    struct torrent *tor = (struct torrent *)iset_find(&t->torrents, a->info_hash, t->hash_seed);
    struct peer *p = tor ? (struct peer *)iset_find(&tor->peers, a->peer_id, t->hash_seed) : NULL;

    if (a->event == BL_TRK_EV_STOPPED) {
        if (p && !p->seeder && a->left == 0)
            tor->downloaded++;   /* finished and left in one breath */
        if (p) {
            peer_remove(t, tor, p);
            if (tor->peers.n == 0)
                tor->empty_since = now_s;
        }
        counts_of(tor, counts);
        return 0;
    }

    bool is_new = !p;
    if (!p) {
        if (!tor && t->torrents.n >= t->lim.max_torrents)
            return bl_fail(err, "tracker full: too many torrents");
        if (tor && tor->peers.n >= t->lim.max_peers_per_torrent)
            return bl_fail(err, "tracker full: too many peers on this torrent");
        if (t->npeers >= t->lim.max_peers_total)
            return bl_fail(err, "tracker full: too many peers");
        bool new_torrent = false;
        if (!tor) {
            tor = calloc(1, sizeof *tor);
            if (!tor || (memcpy(tor->h.key, a->info_hash, 20),
                         !iset_add(&t->torrents, &tor->h, t->hash_seed))) {
                free(tor);
                return bl_fail(err, "tracker out of memory");
            }
            new_torrent = true;
        }
        p = calloc(1, sizeof *p);
        if (!p || (memcpy(p->h.key, a->peer_id, 20),
                   !iset_add(&tor->peers, &p->h, t->hash_seed))) {
            free(p);
            if (new_torrent)
                torrent_remove(t, tor);
            return bl_fail(err, "tracker out of memory");
        }
        t->npeers++;
    }

    bool was_seeder = p->seeder;
    p->addr = a->addr;
    p->last_seen = now_s;
    p->seeder = a->left == 0;
    if (p->seeder != was_seeder) {
        if (p->seeder)
            tor->seeders++;
        else
            tor->seeders--;
    }
    /* A download happened when a known leecher reaches left=0 (whatever
     * event it sends) or a peer we never saw says completed. */
    if ((!is_new && !was_seeder && p->seeder) || (is_new && a->event == BL_TRK_EV_COMPLETED))
        tor->downloaded++;

    size_t want = bl_trk_table_numwant(t, a->numwant);
    if (want > max_out)
        want = max_out;
    *nout = sample(t, tor, p, now_s, family, out, want);
    counts_of(tor, counts);
    return 0;
}

void bl_trk_table_scrape(const bl_trk_table *t, const uint8_t info_hash[BL_TRK_HASH_LEN],
                         bl_trk_counts *counts)
{
    counts_of((const struct torrent *)iset_find(&t->torrents, info_hash, t->hash_seed), counts);
}

size_t bl_trk_table_expire(bl_trk_table *t, uint64_t now_s)
{
    size_t removed = 0;
    /* Backwards, so swap-removal only moves already-visited entries. */
    for (size_t i = t->torrents.n; i-- > 0;) {
        struct torrent *tor = (struct torrent *)t->torrents.arr[i];
        size_t had = tor->peers.n;
        for (size_t j = tor->peers.n; j-- > 0;) {
            struct peer *p = (struct peer *)tor->peers.arr[j];
            if (!alive(t, p, now_s)) {
                peer_remove(t, tor, p);
                removed++;
            }
        }
        if (tor->peers.n == 0 && had > 0)
            tor->empty_since = now_s;
        /* An empty torrent lingers one TTL so its scrape counts survive a
         * swarm that has just finished. */
        if (tor->peers.n == 0 && now_s >= tor->empty_since + t->lim.peer_ttl_s)
            torrent_remove(t, tor);
    }
    return removed;
}

size_t bl_trk_table_torrents(const bl_trk_table *t) { return t->torrents.n; }
size_t bl_trk_table_peers(const bl_trk_table *t) { return t->npeers; }
