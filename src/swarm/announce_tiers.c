#include "swarm/announce_tiers.h"

#include <stdlib.h>
#include <string.h>

struct tier {
    bl_tier_entry *e;
    size_t n;
};

struct bl_tiers {
    struct tier *tiers;
    size_t n;
    size_t cur_tier, cur_idx;
};

void bl_tiers_free(bl_tiers *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        for (size_t j = 0; j < t->tiers[i].n; j++)
            free(t->tiers[i].e[j].url);
        free(t->tiers[i].e);
    }
    free(t->tiers);
    free(t);
}

bl_tiers *bl_tiers_new(char ***tiers, size_t num_tiers, uint64_t seed, bl_err *err)
{
    bl_tiers *t = calloc(1, sizeof *t);
    if (!t || !(t->tiers = calloc(num_tiers ? num_tiers : 1, sizeof *t->tiers)))
        goto oom;
    uint64_t x = seed | 1;
    for (size_t i = 0; i < num_tiers; i++) {
        size_t n = 0;
        while (tiers[i] && tiers[i][n])
            n++;
        if (n == 0)
            continue;
        struct tier *tr = &t->tiers[t->n++];
        if (!(tr->e = calloc(n, sizeof *tr->e)))
            goto oom;
        for (size_t j = 0; j < n; j++) {
            if (!(tr->e[j].url = strdup(tiers[i][j])))
                goto oom;
            tr->n++;
        }
        /* Fisher-Yates with xorshift64: the order only spreads load. */
        for (size_t j = n - 1; j > 0; j--) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t k = (size_t)(x % (j + 1));
            bl_tier_entry tmp = tr->e[j];
            tr->e[j] = tr->e[k];
            tr->e[k] = tmp;
        }
    }
    if (t->n == 0) {
        bl_tiers_free(t);
        bl_fail(err, "no tracker URL to announce to");
        return NULL;
    }
    return t;
oom:
    bl_tiers_free(t);
    bl_fail(err, "tracker list: out of memory");
    return NULL;
}

size_t bl_tiers_num_tiers(const bl_tiers *t) { return t->n; }
size_t bl_tiers_tier_len(const bl_tiers *t, size_t tier) { return t->tiers[tier].n; }
bl_tier_entry *bl_tiers_at(bl_tiers *t, size_t tier, size_t idx) { return &t->tiers[tier].e[idx]; }

void bl_tiers_rewind(bl_tiers *t)
{
    t->cur_tier = 0;
    t->cur_idx = 0;
}

bl_tier_entry *bl_tiers_current(bl_tiers *t)
{
    if (t->cur_tier >= t->n)
        return NULL;
    return &t->tiers[t->cur_tier].e[t->cur_idx];
}

void bl_tiers_failed(bl_tiers *t)
{
    if (t->cur_tier >= t->n)
        return;
    if (++t->cur_idx == t->tiers[t->cur_tier].n) {
        t->cur_tier++;
        t->cur_idx = 0;
    }
}

void bl_tiers_succeeded(bl_tiers *t)
{
    if (t->cur_tier >= t->n)
        return;
    struct tier *tr = &t->tiers[t->cur_tier];
    bl_tier_entry won = tr->e[t->cur_idx];
    memmove(tr->e + 1, tr->e, t->cur_idx * sizeof *tr->e);
    tr->e[0] = won;
    t->cur_idx = 0;
}
