/* dpset: connections to a list of depots (see dpset.h). */
#include "offload/dpset.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/net.h"

#define TICK_MS 200

struct link {
    bl_dpset *s;
    size_t i;
    char *name;
    enum bl_dpset_state st;
    bool reported;         /* `down` has run (or the depot was never reachable and it will) */
    bl_dpconn *c;
    char why[256];
    unsigned waiting;
    uint64_t since_ms;     /* handshake start, or the last message / waiting change */
};

struct bl_dpset {
    bl_loop *loop;
    struct link *l;
    size_t n;
    unsigned timeout_ms;
    bl_dpset_ops ops;
    void *arg;
    uint64_t timer;
    bool freeing;
};

static void report(struct link *l)
{
    if (l->reported)
        return;
    l->reported = true;
    l->st = BL_DPSET_DOWN;
    if (!l->s->freeing && l->s->ops.down)
        l->s->ops.down(l->s, l->i, l->why, l->s->arg);
}

static void on_ready(bl_dpconn *c, void *arg)
{
    (void)c;
    struct link *l = arg;
    l->st = BL_DPSET_READY;
    l->since_ms = bl_loop_now_ms(l->s->loop);
    if (l->s->ops.ready)
        l->s->ops.ready(l->s, l->i, l->s->arg);
}

static void on_msg(bl_dpconn *c, const bl_dp_msg *m, void *arg)
{
    (void)c;
    struct link *l = arg;
    if (l->st != BL_DPSET_READY)
        return;
    l->since_ms = bl_loop_now_ms(l->s->loop);
    if (m->type == BL_DP_ERROR) {
        char why[BL_DP_MAX_TEXT + 1];
        bl_log_safe(why, sizeof why, m->data, m->len);
        char msg[BL_DP_MAX_TEXT + 32];
        snprintf(msg, sizeof msg, "depot says: %s", why);
        bl_dpset_drop(l->s, l->i, msg);
        return;
    }
    l->s->ops.msg(l->s, l->i, m, l->s->arg);
}

static void on_close(bl_dpconn *c, const char *why, void *arg)
{
    (void)c;
    struct link *l = arg;
    l->c = NULL;
    if (!l->why[0])
        snprintf(l->why, sizeof l->why, "%s", why);
    report(l);
}

static void tick(bl_loop *loop, void *arg)
{
    bl_dpset *s = arg;
    s->timer = 0;
    uint64_t now = bl_loop_now_ms(loop);
    for (size_t i = 0; i < s->n; i++) {
        struct link *l = &s->l[i];
        if (l->st == BL_DPSET_DOWN && !l->c) {
            report(l);   /* never reached: unresolvable, or connect failed at once */
            continue;
        }
        if (now - l->since_ms < s->timeout_ms)
            continue;
        if (l->st == BL_DPSET_CONNECTING) {
            char why[96];
            snprintf(why, sizeof why, "no answer within %.1f s (down, or a firewall drops the connection)",
                     s->timeout_ms / 1000.0);
            bl_dpset_drop(s, i, why);
        } else if (l->st == BL_DPSET_READY && l->waiting) {
            char why[96];
            snprintf(why, sizeof why, "stopped answering (%u requests open for %.1f s)", l->waiting,
                     s->timeout_ms / 1000.0);
            bl_dpset_drop(s, i, why);
        }
    }
    s->timer = bl_loop_timer(loop, TICK_MS, tick, s);
}

bl_dpset *bl_dpset_new(bl_loop *loop, const char *const *names, size_t n, uint8_t role,
                       const bl_okey *key, const uint8_t id[BL_OFFLOAD_ID_LEN],
                       unsigned timeout_ms, const bl_dpset_ops *ops, void *arg, bl_err *err)
{
    bl_dpset *s = calloc(1, sizeof *s);
    if (!s || !(s->l = calloc(n ? n : 1, sizeof *s->l))) {
        free(s);
        bl_fail(err, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->n = n;
    s->timeout_ms = timeout_ms ? timeout_ms : 1;
    s->ops = *ops;
    s->arg = arg;
    bl_loop_refresh_now(loop);
    uint64_t now = bl_loop_now_ms(loop);
    static const bl_dpconn_ops cops = {on_ready, on_msg, on_close};
    for (size_t i = 0; i < n; i++) {
        struct link *l = &s->l[i];
        l->s = s;
        l->i = i;
        l->since_ms = now;
        if (!(l->name = strdup(names[i]))) {
            bl_dpset_free(s);
            bl_fail(err, "out of memory");
            return NULL;
        }
        struct sockaddr_storage ss;
        socklen_t sl;
        bl_err e;
        if (bl_net_parse_hostport(names[i], &ss, &sl, &e) < 0 ||
            !(l->c = bl_dpconn_connect(loop, (struct sockaddr *)&ss, sl, role, key, id, &cops, l, &e))) {
            l->st = BL_DPSET_DOWN;
            snprintf(l->why, sizeof l->why, "%s", e.msg);
        }
    }
    if (!(s->timer = bl_loop_timer(loop, 0, tick, s))) {
        bl_dpset_free(s);
        bl_fail(err, "out of memory");
        return NULL;
    }
    return s;
}

void bl_dpset_free(bl_dpset *s)
{
    if (!s)
        return;
    s->freeing = true;
    if (s->timer)
        bl_loop_timer_cancel(s->loop, s->timer);
    for (size_t i = 0; i < s->n; i++) {
        if (s->l[i].c)
            bl_dpconn_close(s->l[i].c, "done");
        free(s->l[i].name);
    }
    free(s->l);
    free(s);
}

size_t bl_dpset_count(const bl_dpset *s) { return s->n; }
const char *bl_dpset_name(const bl_dpset *s, size_t i) { return s->l[i].name; }
enum bl_dpset_state bl_dpset_state(const bl_dpset *s, size_t i) { return s->l[i].st; }
const char *bl_dpset_why(const bl_dpset *s, size_t i) { return s->l[i].st == BL_DPSET_DOWN ? s->l[i].why : ""; }

size_t bl_dpset_connecting(const bl_dpset *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        k += s->l[i].st == BL_DPSET_CONNECTING;
    return k;
}

bl_dpconn *bl_dpset_conn(bl_dpset *s, size_t i)
{
    return s->l[i].st == BL_DPSET_READY ? s->l[i].c : NULL;
}

void bl_dpset_waiting(bl_dpset *s, size_t i, unsigned n)
{
    struct link *l = &s->l[i];
    if (!l->waiting && n)
        l->since_ms = bl_loop_now_ms(s->loop);   /* the clock starts with the first request */
    l->waiting = n;
}

void bl_dpset_drop(bl_dpset *s, size_t i, const char *why)
{
    struct link *l = &s->l[i];
    if (l->st == BL_DPSET_DOWN)
        return;
    l->st = BL_DPSET_DOWN;
    snprintf(l->why, sizeof l->why, "%s", why);
    if (l->c)
        bl_dpconn_close(l->c, why);   /* on_close reports, now or when its callback returns */
    else
        report(l);
}
