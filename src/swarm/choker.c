#include "swarm/choker.h"

#include <stdlib.h>

void bl_choker_init(bl_choker *c, unsigned slots, uint64_t seed)
{
    c->slots = slots ? slots : 1;
    c->has_optimistic = false;
    c->optimistic = 0;
    c->optimistic_since = 0;
    c->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_rand(bl_choker *c)
{
    /* xorshift64*: deterministic for a seed, good enough for a lottery */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 0x2545f4914f6cdd1dull;
}

static int by_rate_desc(const void *a, const void *b)
{
    const bl_choke_peer *x = a, *y = b;
    /* interested stock peers first, fastest first */
    bool xi = x->interested && !x->coop, yi = y->interested && !y->coop;
    if (xi != yi)
        return xi ? -1 : 1;
    if (x->rate != y->rate)
        return x->rate > y->rate ? -1 : 1;
    if (x->unchoked != y->unchoked) /* sticky: the peers we serve keep their slots */
        return x->unchoked ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void bl_choker_run(bl_choker *c, bl_choke_peer *peers, size_t n, uint64_t now_ms)
{
    if (n > 1)
        qsort(peers, n, sizeof *peers, by_rate_desc);
    size_t interested = 0;
    while (interested < n && peers[interested].interested && !peers[interested].coop)
        interested++;
    for (size_t i = 0; i < n; i++)
        peers[i].unchoke = peers[i].coop;

    size_t regular = c->slots > 1 ? c->slots - 1 : 0;
    if (interested <= c->slots) {
        /* room for everyone who asks */
        for (size_t i = 0; i < interested; i++)
            peers[i].unchoke = true;
        return;
    }
    for (size_t i = 0; i < regular; i++)
        peers[i].unchoke = true;

    /* keep the optimistic peer for its 30 s if it is still a candidate */
    bool keep = false;
    if (c->has_optimistic && now_ms - c->optimistic_since < BL_CHOKE_OPTIMISTIC_MS)
        for (size_t i = regular; i < interested; i++)
            if (peers[i].id == c->optimistic) {
                peers[i].unchoke = true;
                keep = true;
            }
    if (keep)
        return;
    size_t pick = regular + (size_t)(next_rand(c) % (interested - regular));
    peers[pick].unchoke = true;
    c->optimistic = peers[pick].id;
    c->has_optimistic = true;
    c->optimistic_since = now_ms;
}

void bl_choker_fill(bl_choker *c, bl_choke_peer *peers, size_t n)
{
    if (n > 1)
        qsort(peers, n, sizeof *peers, by_rate_desc);
    size_t busy = 0;
    for (size_t i = 0; i < n; i++) {
        bool stock_wants = peers[i].interested && !peers[i].coop;
        peers[i].unchoke = peers[i].coop || (stock_wants && peers[i].unchoked);
        busy += stock_wants && peers[i].unchoked;
    }
    for (size_t i = 0; i < n && busy < c->slots; i++)
        if (peers[i].interested && !peers[i].coop && !peers[i].unchoke) {
            peers[i].unchoke = true;
            busy++;
        }
}
