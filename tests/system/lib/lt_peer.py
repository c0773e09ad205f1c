#!/usr/bin/python3
"""A libtorrent-rasterbar peer for system tests: a seeder or a leecher over plain TCP.

lt_peer.py --torrent T --save DIR --listen IP:PORT [--peer IP:PORT]... [--seed]
           [--timeout SEC] [--keep-seeding] [--tracker-only]

Leecher (default): downloads into DIR, prints "complete <seconds>" and exits 0 once every
piece is verified (or keeps serving with --keep-seeding until killed); exits 1 on --timeout.
Seeder (--seed): checks DIR (must be complete), prints "seeding", serves until killed.
Peers given with --peer are dialled (and re-dialled every few seconds while not connected).
uTP, DHT, LSD, UPnP, NAT-PMP and protocol encryption are off: plain BitTorrent over TCP,
bound to the given address.  Prints one status line every 2 s (pieces, peers, rates).
"""

import argparse
import sys
import time

import libtorrent as lt


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--seed", action="store_true")
    ap.add_argument("--keep-seeding", action="store_true")
    ap.add_argument("--timeout", type=float, default=100.0)
    a = ap.parse_args()

    host, port = parse_hostport(a.listen)
    settings = {
        "listen_interfaces": "%s:%d" % (host, port),
        "outgoing_interfaces": host,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "choking_algorithm": 0,  # fixed slots
        "unchoke_slots_limit": -1,
        "user_agent": "lt_peer",
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification),
        "announce_ip": host,
    }
    ses = lt.session(settings)
    info = lt.torrent_info(a.torrent)
    atp = lt.add_torrent_params()
    atp.ti = info
    atp.save_path = a.save
    if a.seed:
        atp.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(atp)
    peers = [parse_hostport(p) for p in a.peer]
    t0 = time.time()
    last_dial = 0.0
    last_print = 0.0
    announced_seed = False
    while True:
        now = time.time()
        st = h.status()
        for al in ses.pop_alerts():
            if al.category() & lt.alert.category_t.error_notification:
                print("alert:", al.message(), flush=True)
        if peers and now - last_dial > 3 and st.num_peers < len(peers):
            for p in peers:
                h.connect_peer(p)
            last_dial = now
        if now - last_print > 2:
            print("state=%s pieces=%d/%d peers=%d down=%d up=%d total_up=%d" % (
                st.state, st.num_pieces, info.num_pieces(), st.num_peers,
                st.download_rate, st.upload_rate, st.total_payload_upload), flush=True)
            last_print = now
        if st.is_seeding and not announced_seed:
            announced_seed = True
            if a.seed:
                print("seeding", flush=True)
            else:
                print("complete %.1f" % (now - t0), flush=True)
                if not a.keep_seeding:
                    # let the last have messages go out, then leave cleanly
                    time.sleep(0.5)
                    return 0
        if not a.seed and not a.keep_seeding and a.timeout and now - t0 > a.timeout:
            print("timeout after %.0f s: %d/%d pieces" % (now - t0, st.num_pieces,
                                                          info.num_pieces()), flush=True)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
