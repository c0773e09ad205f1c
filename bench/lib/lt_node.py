#!/usr/bin/python3
"""lt_node.py: one python3-libtorrent node for the swarm benchmark.

lt_node.py --torrent T --save DIR --listen IP:PORT [--seed] [--ready-file F] [--done-file F]
           [--exit-on-complete]

TCP only (no uTP), no DHT/LSD/UPnP/NAT-PMP, fixed-slot choker with unlimited unchoke slots.
--seed adds the torrent in seed mode (no hash check) and writes --ready-file once the tracker
has answered an announce.  A downloader writes the time of completion (epoch seconds) to
--done-file from the torrent_finished alert, then keeps seeding until SIGTERM/SIGINT (or exits
at once with --exit-on-complete).
"""
import argparse
import os
import signal
import sys
import time

import libtorrent as lt


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--seed", action="store_true")
    ap.add_argument("--ready-file")
    ap.add_argument("--done-file")
    ap.add_argument("--exit-on-complete", action="store_true")
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    cat = lt.alert.category_t
    settings = {
        "listen_interfaces": args.listen,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "choking_algorithm": 0,           # fixed_slots_choker
        "unchoke_slots_limit": -1,        # unlimited
        "connections_limit": 1000,
        "stop_tracker_timeout": 1,        # do not linger at exit
        "alert_mask": int(cat.status_notification | cat.error_notification
                          | cat.tracker_notification | cat.storage_notification),
    }
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save
    if args.seed:
        params.flags |= lt.torrent_flags.seed_mode
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    ses.add_torrent(params)

    ready_written = False
    while not stop:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_finished_alert) and not args.seed:
                if args.done_file:
                    write_atomic(args.done_file, "%.6f\n" % time.time())
                print("complete", flush=True)
                if args.exit_on_complete:
                    return 0
            elif isinstance(a, lt.tracker_reply_alert) and args.seed and not ready_written:
                if args.ready_file:
                    write_atomic(args.ready_file, "%.6f\n" % time.time())
                ready_written = True
            elif isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert,
                                lt.file_error_alert, lt.listen_failed_alert)):
                print("error:", a.message(), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
