/* peer_auth: a private swarm's job-secret check on one connection
 * (swarm/secret.h for the proof).  A peer of a private swarm stays in
 * PEER_HANDSHAKE after the BitTorrent handshake: peer.c lets only
 * extension messages through, and this module admits it (peer_activate)
 * once its bitlib_auth proof over our nonce checks out, refuses it with one
 * line when not, and admits or refuses stock clients by allow_stock. */
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "swarm/secret.h"
#include "swarm/swarm_int.h"

int peer_auth_start(peer *p)
{
    if (getrandom(p->my_nonce, sizeof p->my_nonce, 0) != (ssize_t)sizeof p->my_nonce) {
        peer_close(p, "getrandom failed: no nonce for the job-secret check");
        return -1;
    }
    return 0;
}

/* The peer's extension handshake while it has not proved the secret: a
 * stock client is refused or admitted; a bitlib peer gets our proof over
 * its nonce. */
void peer_auth_ext_handshake(peer *p)
{
    bl_swarm *s = p->sw;
    const bl_ext_handshake *hs = &p->ext;
    if (!hs->has_nonce) {
        if (!s->cfg.allow_stock) {
            peer_close(p, hs->bitlib_coop || strncmp(p->client, "bitlib", 6) == 0 ?
                          "refused: a bitlib peer without a job secret in a private swarm "
                          "(start it with the same --secret-file)" :
                          "refused: a stock client in a private swarm (--allow-stock admits them)");
            return;
        }
        p->stock_admitted = true;
        bl_info("peer %s: stock client (%s) admitted to the private swarm (--allow-stock)",
                p->name, p->client);
        peer_activate(p);
        return;
    }
    if (p->proof_sent)
        return; /* a later handshake: the first nonce is the challenge */
    uint8_t auth_id = bl_ext_handshake_id(hs, BL_EXT_BITLIB_AUTH);
    if (!auth_id) {
        peer_close(p, "refused: the peer sent a nonce but takes no bitlib_auth message");
        return;
    }
    memcpy(p->their_nonce, hs->nonce, BL_EXT_NONCE_LEN);
    p->their_nonce_known = true;
    uint8_t proof[BL_SECRET_PROOF_LEN];
    bl_secret_proof(s->cfg.secret, s->mi->info_hash, s->peer_id, p->peer_id, p->my_nonce,
                    p->their_nonce, BL_EXT_NONCE_LEN, proof);
    bl_wire_put_extended(&p->out, auth_id, proof, sizeof proof);
    p->proof_sent = true;
    peer_flush(p);
}

/* The peer's proof (or, empty, its word that ours failed). */
void peer_auth_got_proof(peer *p, const uint8_t *data, size_t len)
{
    bl_swarm *s = p->sw;
    if (p->state != PEER_HANDSHAKE)
        return; /* proved already */
    if (len == 0) {
        /* one line a person acts on, not one per redial */
        uint32_t n = ++s->auth_refusals;
        if ((n & (n - 1)) == 0)
            bl_error("peer %s refused this node's proof of the job secret: this node's "
                     "--secret-file is not the one the swarm uses (%u so far)", p->name,
                     s->auth_refusals);
        peer_close(p, "it refused our proof of the job secret");
        return;
    }
    if (!p->their_nonce_known) {
        peer_close(p, "bitlib_auth before its extension handshake");
        return;
    }
    uint8_t want[BL_SECRET_PROOF_LEN];
    bl_secret_proof(s->cfg.secret, s->mi->info_hash, p->peer_id, s->peer_id, p->their_nonce,
                    p->my_nonce, BL_EXT_NONCE_LEN, want);
    if (!bl_secret_proof_ok(data, len, want)) {
        uint8_t auth_id = bl_ext_handshake_id(&p->ext, BL_EXT_BITLIB_AUTH);
        if (auth_id) {
            static const uint8_t none[1];
            bl_wire_put_extended(&p->out, auth_id, none, 0); /* tell it why */
            peer_flush(p);
        }
        uint32_t n = ++s->auth_refusals;
        if ((n & (n - 1)) == 0)
            bl_warn("peer %s (%s) failed the job-secret check: it and this node hold different "
                    "--secret-file secrets, or it replayed a recorded handshake; refused (%u so "
                    "far)", p->name, p->client, n);
        peer_close(p, "refused: failed the job-secret check");
        return;
    }
    bl_debug("peer %s proved the job secret", p->name);
    peer_activate(p);
}
