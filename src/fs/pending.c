/* pending: see pending.h.
 *
 * Waiters and links live in two slabs with free lists.  A link ties one
 * waiter to one piece and sits on two doubly linked lists: the piece's wait
 * list (walked when the piece arrives) and the waiter's own list (walked
 * when it times out or is cancelled), so every removal is O(1). */
#include "fs/pending.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define DEFAULT_MAX 65536

struct link {
    uint32_t waiter, piece;
    uint32_t prev, next;   /* on the piece's list */
    uint32_t wprev, wnext; /* on the waiter's list */
};

struct waiter {
    void *cookie;
    uint64_t deadline, timeout;
    uint32_t missing;
    uint32_t links;        /* head of its links, NIL when none */
    uint32_t gen;
    uint32_t next_free;
    bool live;
};

struct bl_pending {
    uint32_t num_pieces;
    uint32_t *head;        /* per piece: first link, NIL */
    struct waiter *w;
    uint32_t nw, capw, free_w;
    struct link *l;
    uint32_t nl, capl, free_l;
    size_t live, max;
    bl_pending_done *done;
    size_t done_head, done_len, done_cap;
};

bl_pending *bl_pending_new(uint32_t num_pieces, size_t max_waiters)
{
    bl_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->num_pieces = num_pieces;
    p->head = malloc((num_pieces ? num_pieces : 1) * sizeof *p->head);
    if (!p->head) {
        free(p);
        return NULL;
    }
    for (uint32_t i = 0; i < num_pieces; i++)
        p->head[i] = NIL;
    p->free_w = p->free_l = NIL;
    p->max = max_waiters ? max_waiters : DEFAULT_MAX;
    return p;
}

void bl_pending_free(bl_pending *p)
{
    if (!p)
        return;
    free(p->head);
    free(p->w);
    free(p->l);
    free(p->done);
    free(p);
}

static uint32_t alloc_link(bl_pending *p)
{
    if (p->free_l != NIL) {
        uint32_t i = p->free_l;
        p->free_l = p->l[i].next;
        return i;
    }
    if (p->nl == p->capl) {
        uint32_t cap = p->capl ? p->capl * 2 : 64;
        struct link *nl = realloc(p->l, cap * sizeof *nl);
        if (!nl)
            return NIL;
        p->l = nl;
        p->capl = cap;
    }
    return p->nl++;
}

static void free_link(bl_pending *p, uint32_t i)
{
    p->l[i].next = p->free_l;
    p->free_l = i;
}

/* Take link i off its piece's list and its waiter's list, and free it. */
static void unlink_one(bl_pending *p, uint32_t i)
{
    struct link *k = &p->l[i];
    if (k->prev != NIL)
        p->l[k->prev].next = k->next;
    else
        p->head[k->piece] = k->next;
    if (k->next != NIL)
        p->l[k->next].prev = k->prev;
    struct waiter *w = &p->w[k->waiter];
    if (k->wprev != NIL)
        p->l[k->wprev].wnext = k->wnext;
    else
        w->links = k->wnext;
    if (k->wnext != NIL)
        p->l[k->wnext].wprev = k->wprev;
    free_link(p, i);
}

static void release_waiter(bl_pending *p, uint32_t wi)
{
    struct waiter *w = &p->w[wi];
    while (w->links != NIL)
        unlink_one(p, w->links);
    w->live = false;
    w->gen++;
    w->next_free = p->free_w;
    p->free_w = wi;
    p->live--;
}

/* Room in the done queue for n entries; done once per waiter when it is
 * added, so queueing it later can never fail. */
static bool reserve_done(bl_pending *p, size_t n)
{
    if (p->done_head > 0) {
        memmove(p->done, p->done + p->done_head, (p->done_len - p->done_head) * sizeof *p->done);
        p->done_len -= p->done_head;
        p->done_head = 0;
    }
    if (n <= p->done_cap)
        return true;
    size_t cap = p->done_cap ? p->done_cap : 32;
    while (cap < n)
        cap *= 2;
    bl_pending_done *nd = realloc(p->done, cap * sizeof *nd);
    if (!nd)
        return false;
    p->done = nd;
    p->done_cap = cap;
    return true;
}

static void queue_done(bl_pending *p, void *cookie, int result, uint32_t piece)
{
    if (p->done_len == p->done_cap)
        reserve_done(p, p->done_len - p->done_head + 1); /* compacts; cannot grow past need */
    p->done[p->done_len++] = (bl_pending_done){cookie, result, piece};
}

int64_t bl_pending_add(bl_pending *p, uint32_t first, uint32_t last, bl_pending_have_fn have,
                       void *ctx, uint64_t now, uint64_t timeout_ms, void *cookie)
{
    if (p->num_pieces == 0 || first >= p->num_pieces || first > last)
        return 0;
    if (last >= p->num_pieces)
        last = p->num_pieces - 1;
    uint32_t missing = 0;
    for (uint32_t i = first; i <= last; i++)
        if (!have(ctx, i))
            missing++;
    if (!missing)
        return 0;
    if (p->live >= p->max || !reserve_done(p, p->done_len - p->done_head + p->live + 1))
        return -1;
    uint32_t wi;
    if (p->free_w != NIL) {
        wi = p->free_w;
        p->free_w = p->w[wi].next_free;
    } else {
        if (p->nw == p->capw) {
            uint32_t cap = p->capw ? p->capw * 2 : 32;
            struct waiter *nw = realloc(p->w, cap * sizeof *nw);
            if (!nw)
                return -1;
            p->w = nw;
            p->capw = cap;
        }
        wi = p->nw++;
        p->w[wi].gen = 1;
    }
    struct waiter *w = &p->w[wi];
    w->cookie = cookie;
    w->timeout = timeout_ms;
    w->deadline = now + timeout_ms;
    w->missing = 0;
    w->links = NIL;
    w->live = true;
    p->live++;
    for (uint32_t i = first; i <= last; i++) {
        if (have(ctx, i))
            continue;
        uint32_t li = alloc_link(p);
        if (li == NIL) {
            release_waiter(p, wi);
            return -1;
        }
        w = &p->w[wi]; /* slabs do not move on link allocation, but be plain */
        struct link *k = &p->l[li];
        k->waiter = wi;
        k->piece = i;
        k->prev = NIL;
        k->next = p->head[i];
        if (k->next != NIL)
            p->l[k->next].prev = li;
        p->head[i] = li;
        k->wprev = NIL;
        k->wnext = w->links;
        if (k->wnext != NIL)
            p->l[k->wnext].wprev = li;
        w->links = li;
        w->missing++;
    }
    return ((int64_t)w->gen << 32) | wi;
}

size_t bl_pending_piece(bl_pending *p, uint32_t piece, uint64_t now)
{
    if (piece >= p->num_pieces)
        return 0;
    size_t ready = 0;
    while (p->head[piece] != NIL) {
        uint32_t li = p->head[piece];
        uint32_t wi = p->l[li].waiter;
        unlink_one(p, li);
        struct waiter *w = &p->w[wi];
        w->missing--;
        w->deadline = now + w->timeout; /* progress re-arms the timeout */
        if (w->missing == 0) {
            void *cookie = w->cookie;
            release_waiter(p, wi);
            queue_done(p, cookie, 0, piece);
            ready++;
        }
    }
    return ready;
}

size_t bl_pending_expire(bl_pending *p, uint64_t now)
{
    size_t n = 0;
    for (uint32_t wi = 0; wi < p->nw; wi++) {
        struct waiter *w = &p->w[wi];
        if (!w->live || w->deadline > now)
            continue;
        /* the first missing piece, for the log line */
        uint32_t first = UINT32_MAX;
        for (uint32_t li = w->links; li != NIL; li = p->l[li].wnext)
            if (p->l[li].piece < first)
                first = p->l[li].piece;
        void *cookie = w->cookie;
        release_waiter(p, wi);
        queue_done(p, cookie, ETIMEDOUT, first);
        n++;
    }
    return n;
}

size_t bl_pending_fail_all(bl_pending *p, int result)
{
    size_t n = 0;
    for (uint32_t wi = 0; wi < p->nw; wi++) {
        if (!p->w[wi].live)
            continue;
        void *cookie = p->w[wi].cookie;
        release_waiter(p, wi);
        queue_done(p, cookie, result, 0);
        n++;
    }
    return n;
}

void *bl_pending_cancel(bl_pending *p, int64_t id)
{
    if (id <= 0)
        return NULL;
    uint32_t wi = (uint32_t)(id & 0xffffffffu), gen = (uint32_t)((uint64_t)id >> 32);
    if (wi >= p->nw || !p->w[wi].live || p->w[wi].gen != gen)
        return NULL;
    void *cookie = p->w[wi].cookie;
    release_waiter(p, wi);
    return cookie;
}

bool bl_pending_pop(bl_pending *p, bl_pending_done *out)
{
    if (p->done_head == p->done_len)
        return false;
    *out = p->done[p->done_head++];
    return true;
}

uint64_t bl_pending_next_deadline(const bl_pending *p)
{
    uint64_t best = UINT64_MAX;
    for (uint32_t wi = 0; wi < p->nw; wi++)
        if (p->w[wi].live && p->w[wi].deadline < best)
            best = p->w[wi].deadline;
    return best;
}

size_t bl_pending_count(const bl_pending *p) { return p->live; }

size_t bl_pending_on_piece(const bl_pending *p, uint32_t piece)
{
    size_t n = 0;
    if (piece >= p->num_pieces)
        return 0;
    for (uint32_t li = p->head[piece]; li != NIL; li = p->l[li].next)
        n++;
    return n;
}

