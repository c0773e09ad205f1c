#!/usr/bin/python3
"""The hostile-peer matrix's attackers (t_swarm_hostile_matrix; python3 standard library only).
Shares the wire helpers of hostile_peer.py.

Attack mode: dial a bitlib node and misbehave, again and again until --duration seconds have
passed or --stop-file exists, so that an honest transfer running meanwhile feels it:
  hostile_matrix.py attack --target IP:PORT --kinds K1,K2 --info-hash HEX --piece-length N
                           --total-length N [--bind IP] [--duration S] [--stop-file F]
  kinds (each a fresh connection with a proper handshake first, unless said otherwise):
    flood        INTERESTED, wait for UNCHOKE, 8000 REQUESTs for blocks the node has, not
                 reading its answers
    chokedflood  3000 REQUESTs at once, never INTERESTED, never unchoked
    cancel       INTERESTED, UNCHOKE, then 6000 times REQUEST and CANCEL of one block (re-requests
                 after cancels), not reading
    trunc_have / trunc_request / trunc_piece / trunc_cancel
                 a message whose length is too short for its type (HAVE of 2 bytes, REQUEST and
                 CANCEL of 8 or 11, PIECE of 4)
    early_piece  the handshake and a PIECE in one write, before the node's handshake arrives
    late_bitfield  a HAVE, then a BITFIELD
    unsolicited  PIECE messages nobody requested (random bytes)
  Prints one line per kind: "KIND dropped N/M times, slowest after S s" (M connections made)
  and exits 0 only if every connection was dropped within --drop-timeout s (default 5).

Hold modes (one run, until --duration / --stop-file):
  hostile_matrix.py conns --target ... --count N     N connections with handshakes at once from
        one address; prints how many the node kept open after 3 s, and at the end
  hostile_matrix.py stall --target ... --variant piece|prefix   half a PIECE message (or 2 of a
        length prefix's 4 bytes), then nothing; prints "stall-VARIANT dropped after S s" or
        "... NOT dropped after S s" when the time is up

Serving modes (listen; a node dials us), until killed; one log line per connection event:
  hostile_matrix.py rejecter --listen IP:PORT ...  full bitfield, unchoke, REJECT every request
  hostile_matrix.py haveliar --listen IP:PORT ...  HAVE NONE, then a HAVE for every piece,
        unchoke, never answer a request
  hostile_matrix.py fakeseed --listen IP:PORT ...  HAVE ALL and an extension handshake that says
        "bitlib, cooperative, upload only" (a bitlib seed), unchoke, never answer
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_peer import (Geometry, full_bitfield, handshake, hostport, log, msg,  # noqa: E402
                          read_msg, recv_exact)

BLOCK = 16384
FAST_EXT = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])


def stopped(a, t0):
    return time.time() - t0 >= a.duration or (a.stop_file and os.path.exists(a.stop_file))


def blocks(geo, have):
    """(piece, offset, length) of every block of the pieces in have."""
    out = []
    for i in sorted(have):
        size = min(geo.piece_length, geo.total - i * geo.piece_length)
        for off in range(0, size, BLOCK):
            out.append((i, off, min(BLOCK, size - off)))
    return out


def req(mid, b):
    return msg(mid, struct.pack(">III", *b))


def connect(a):
    s = socket.socket()
    if a.bind:
        s.bind((a.bind, 0))
    s.settimeout(a.drop_timeout)
    s.connect(hostport(a.target))
    return s


def greet(s, geo, deadline):
    """Read the node's handshake and first messages up to its bitfield: the pieces it has."""
    hs = recv_exact(s, 68)
    if hs[28:48] != geo.info_hash:
        raise EOFError("bad reply handshake")
    have = set()
    while time.time() < deadline:
        mid, payload = read_msg(s)
        if mid == 5:
            return {i for i in range(geo.pieces) if payload[i // 8] & (0x80 >> (i % 8))}
        if mid == 0x0E:
            return set(range(geo.pieces))
        if mid == 0x0F:
            return have
        if mid == 4:
            have.add(struct.unpack(">I", payload)[0])
    return have


def wait_unchoke(s, deadline):
    while time.time() < deadline:
        try:
            mid, _ = read_msg(s)
        except socket.timeout:
            return False
        if mid == 1:
            return True
    return False


def until_eof(s, t_sent, timeout):
    """Read (discarding) until the node hangs up: seconds after t_sent, or None."""
    s.settimeout(0.5)
    while time.time() - t_sent < timeout:
        try:
            if not s.recv(1 << 16):
                return time.time() - t_sent
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.time() - t_sent
    return None


def attack_once(a, geo, kind):
    """One connection, one misbehaviour: seconds until the node dropped us, or None."""
    s = connect(a)
    try:
        if kind == "early_piece":
            s.sendall(handshake(geo.info_hash, FAST_EXT) +
                      struct.pack(">IBII", 9 + BLOCK, 7, 0, 0) + os.urandom(BLOCK))
            return until_eof(s, time.time(), a.drop_timeout)
        s.sendall(handshake(geo.info_hash, FAST_EXT))
        have = greet(s, geo, time.time() + a.drop_timeout)
        bl = blocks(geo, have) or [(0, 0, BLOCK)]
        t = time.time()
        try:
            if kind == "flood":
                s.sendall(msg(2))
                wait_unchoke(s, time.time() + 3)
                t = time.time()
                s.sendall(b"".join(req(6, bl[k % len(bl)]) for k in range(8000)))
                time.sleep(1)  # do not read: answers pile up at the node
            elif kind == "chokedflood":
                s.sendall(b"".join(req(6, bl[k % len(bl)]) for k in range(3000)))
            elif kind == "cancel":
                s.sendall(msg(2))
                wait_unchoke(s, time.time() + 3)
                t = time.time()
                s.sendall(b"".join(req(6, bl[0]) + req(8, bl[0]) for _ in range(6000)))
            elif kind == "trunc_have":
                s.sendall(struct.pack(">IB", 3, 4) + b"\x00\x01")
            elif kind == "trunc_request":
                s.sendall(struct.pack(">IB", 9, 6) + struct.pack(">II", 0, 0))
            elif kind == "trunc_cancel":
                s.sendall(struct.pack(">IB", 12, 8) + struct.pack(">III", 0, 0, BLOCK)[:11])
            elif kind == "trunc_piece":
                s.sendall(struct.pack(">IB", 5, 7) + struct.pack(">I", 0))
            elif kind == "late_bitfield":
                s.sendall(msg(4, struct.pack(">I", 0)) + msg(5, full_bitfield(geo.pieces)))
            elif kind == "unsolicited":
                for i in range(geo.pieces):
                    s.sendall(struct.pack(">IBII", 9 + BLOCK, 7, i, 0) + os.urandom(BLOCK))
            else:
                raise SystemExit("unknown kind " + kind)
        except (ConnectionResetError, BrokenPipeError):
            return time.time() - t
        return until_eof(s, t, a.drop_timeout)
    except (ConnectionResetError, BrokenPipeError, EOFError):
        return 0.0  # dropped while greeting: counts as dropped at once
    except socket.timeout:
        return None
    finally:
        s.close()


def attack(a):
    geo = Geometry(a)
    kinds = a.kinds.split(",")
    made = {k: 0 for k in kinds}
    dropped = {k: 0 for k in kinds}
    slowest = {k: 0.0 for k in kinds}
    t0 = time.time()
    while True:
        for k in kinds:
            try:
                r = attack_once(a, geo, k)
            except (ConnectionRefusedError, ConnectionResetError, OSError) as e:
                # refused at connect: the node is gone or hangs up at once
                log("%s: connect failed: %s" % (k, e))
                r = 0.0
            made[k] += 1
            if r is not None:
                dropped[k] += 1
                slowest[k] = max(slowest[k], r)
        if stopped(a, t0):
            break
    ok = True
    for k in kinds:
        print("%s dropped %d/%d times, slowest after %.2f s" % (k, dropped[k], made[k], slowest[k]),
              flush=True)
        ok = ok and dropped[k] == made[k]
    return 0 if ok else 1


def conns(a):
    geo = Geometry(a)
    socks = []
    for _ in range(a.count):
        try:
            s = connect(a)
            s.sendall(handshake(geo.info_hash, FAST_EXT))
            socks.append(s)
        except OSError as e:
            log("connect failed:", e)
    t0 = time.time()

    def open_count():
        n = 0
        for s in socks:
            if s.fileno() < 0:
                continue
            s.setblocking(False)
            try:
                while True:
                    c = s.recv(1 << 16)
                    if not c:
                        s.close()
                        break
            except (BlockingIOError, InterruptedError):
                n += 1
            except OSError:
                s.close()
        return n
    time.sleep(3)
    print("conns: %d opened from one address, %d still open after 3 s" % (len(socks), open_count()),
          flush=True)
    while not stopped(a, t0):
        open_count()  # keep reading, so the node's keep-alives never block
        time.sleep(0.5)
    print("conns: %d still open at the end" % open_count(), flush=True)
    for s in socks:
        s.close()
    return 0


def stall(a):
    geo = Geometry(a)
    s = connect(a)
    s.sendall(handshake(geo.info_hash, FAST_EXT))
    greet(s, geo, time.time() + a.drop_timeout)
    if a.variant == "piece":
        s.sendall(struct.pack(">IBII", 9 + BLOCK, 7, 0, 0) + os.urandom(BLOCK // 2))
    else:
        s.sendall(struct.pack(">I", 9 + BLOCK)[:2])
    t = time.time()
    print("stall-%s: half a message sent" % a.variant, flush=True)
    r = until_eof(s, t, a.duration)
    if r is None:
        print("stall-%s NOT dropped after %.1f s" % (a.variant, time.time() - t), flush=True)
        return 1
    print("stall-%s dropped after %.1f s" % (a.variant, r), flush=True)
    return 0


# ---- serving modes ----------------------------------------------------------------------

def ext_handshake_bitlib_seed():
    # bencoded, keys sorted
    d = (b"d11:bitlib_coopi1e1:md13:bitlib_intenti9ee4:reqqi1024e11:upload_onlyi1e"
         b"1:v12:bitlib 0.1.0e")
    return msg(20, b"\x00" + d)


def serve_conn(conn, addr, geo, mode):
    name = "%s:%d" % addr
    nreq = 0
    try:
        conn.settimeout(300)
        hs = recv_exact(conn, 68)
        if hs[1:20] != b"BitTorrent protocol" or hs[28:48] != geo.info_hash:
            log(name, "bad handshake, closing")
            return
        conn.sendall(handshake(geo.info_hash, FAST_EXT))
        if mode == "rejecter":
            conn.sendall(msg(5, full_bitfield(geo.pieces)) + msg(1))
        elif mode == "haveliar":
            conn.sendall(msg(0x0F))
            for i in range(geo.pieces):
                conn.sendall(msg(4, struct.pack(">I", i)))
            conn.sendall(msg(1))
        else:  # fakeseed
            conn.sendall(msg(0x0E) + ext_handshake_bitlib_seed() + msg(1))
        log(name, "connected; %s mode" % mode)
        while True:
            mid, payload = read_msg(conn)
            if mid == 6 and len(payload) == 12:
                nreq += 1
                if mode == "rejecter":
                    conn.sendall(msg(0x10, payload))
    except (EOFError, ConnectionError, OSError, ValueError) as e:
        log(name, "connection ended:", type(e).__name__, e)
    finally:
        log(name, "%d requests %s" % (nreq, "rejected" if mode == "rejecter" else "ignored"))
        conn.close()


def serve(a):
    geo = Geometry(a)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(hostport(a.listen))
    srv.listen(16)
    log("%s peer listening on %s (%d pieces)" % (a.mode, a.listen, geo.pieces))
    while True:
        conn, addr = srv.accept()
        threading.Thread(target=serve_conn, args=(conn, addr, geo, a.mode), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["attack", "conns", "stall", "rejecter", "haveliar", "fakeseed"])
    ap.add_argument("--listen")
    ap.add_argument("--target")
    ap.add_argument("--bind")
    ap.add_argument("--info-hash", required=True)
    ap.add_argument("--piece-length", type=int, required=True)
    ap.add_argument("--total-length", type=int, required=True)
    ap.add_argument("--kinds", default="flood")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--variant", choices=["piece", "prefix"], default="piece")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--stop-file")
    ap.add_argument("--drop-timeout", type=float, default=5.0)
    a = ap.parse_args()
    if a.mode == "attack":
        return attack(a)
    if a.mode == "conns":
        return conns(a)
    if a.mode == "stall":
        return stall(a)
    serve(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
