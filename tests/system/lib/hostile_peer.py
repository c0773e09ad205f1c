#!/usr/bin/python3
"""Deliberately hostile BitTorrent peers for system tests (python3 standard library only).

Serving modes (listen, claim to have everything, unchoke whoever connects):
  hostile_peer.py liar   --listen IP:PORT --info-hash HEX --piece-length N --total-length N
        answers every request with random bytes (pieces fail their hash check);
        --delay SEC waits before each block (a slow liar, whose blocks land in pieces that
        honest peers fill too)
  hostile_peer.py silent --listen IP:PORT --info-hash HEX --piece-length N --total-length N
        accepts requests and never answers them (keep-alives only)
  Both run until killed and log one line per connection event.

Attack mode (dial a bitlib node, misbehave once per connection, check it hangs up):
  hostile_peer.py attack --target IP:PORT --info-hash HEX --piece-length N --total-length N
                         [--kinds K1,K2,...] [--bind IP]
  kinds: garbage      random bytes instead of a handshake
         badproto     a handshake with a wrong protocol string
         oversize     a valid handshake, then a length prefix of 0x7fffffff
         badindex     HAVE for a piece index past the last piece
         badrequest   REQUEST for a piece index past the last piece
         biglen       REQUEST of 1 MiB (blocks are at most 16 KiB..128 KiB)
         lacking      REQUEST for a piece the node has not announced (needs a node that
                      lacks at least one piece: a fetcher mid-download)
         badbitfield  BITFIELD with the spare trailing bits set
         unsolicited  PIECE messages nobody requested, random bytes, for pieces the node
                      lacks (not in the default list: dropping is not required, but the data
                      must not be used; judge by the node's hash failures)
  For each kind prints "KIND dropped after S s" or "KIND NOT dropped"; exits 0 only if every
  connection was dropped within --drop-timeout seconds (default 5).
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

PSTR = b"BitTorrent protocol"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


class Geometry:
    def __init__(self, a):
        self.info_hash = bytes.fromhex(a.info_hash)
        self.piece_length = a.piece_length
        self.total = a.total_length
        self.pieces = (self.total + self.piece_length - 1) // self.piece_length


def handshake(info_hash, reserved=bytes(8)):
    return bytes([len(PSTR)]) + PSTR + reserved + info_hash + b"-HP0001-" + os.urandom(12)


def msg(mid, payload=b""):
    return struct.pack(">IB", 1 + len(payload), mid) + payload


def full_bitfield(n):
    b = bytearray((n + 7) // 8)
    for i in range(n):
        b[i // 8] |= 0x80 >> (i % 8)
    return bytes(b)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            raise EOFError
        buf += c
    return buf


def read_msg(s):
    (n,) = struct.unpack(">I", recv_exact(s, 4))
    if n > (1 << 20) + 64:
        raise ValueError("length %d" % n)
    if n == 0:
        return None, b""
    body = recv_exact(s, n)
    return body[0], body[1:]


# ---- serving modes --------------------------------------------------------------------

def serve_conn(conn, addr, geo, mode, delay):
    name = "%s:%d" % addr
    served = ignored = 0
    try:
        conn.settimeout(300)
        hs = recv_exact(conn, 68)
        if hs[1:20] != PSTR or hs[28:48] != geo.info_hash:
            log(name, "bad handshake, closing")
            return
        conn.sendall(handshake(geo.info_hash))
        conn.sendall(msg(5, full_bitfield(geo.pieces)) + msg(1))  # bitfield, unchoke
        log(name, "connected; %s mode" % mode)
        last_keepalive = time.time()
        conn.settimeout(5)
        while True:
            try:
                mid, payload = read_msg(conn)
            except socket.timeout:
                mid, payload = None, b""
            if time.time() - last_keepalive > 30:
                conn.sendall(struct.pack(">I", 0))
                last_keepalive = time.time()
            if mid == 6 and len(payload) == 12:  # request
                index, begin, length = struct.unpack(">III", payload)
                if mode == "liar" and length <= (1 << 17):
                    if delay:
                        time.sleep(delay)
                    conn.sendall(struct.pack(">IBII", 9 + length, 7, index, begin) +
                                 os.urandom(length))
                    served += 1
                    if served % 64 == 1:
                        log(name, "sent %d corrupt blocks" % served)
                else:
                    ignored += 1
    except (EOFError, ConnectionError, OSError, ValueError) as e:
        log(name, "connection ended:", type(e).__name__, e)
    finally:
        if mode == "silent":
            log(name, "ignored %d requests" % ignored)
        else:
            log(name, "sent %d corrupt blocks in all" % served)
        conn.close()


def serve(a, mode):
    geo = Geometry(a)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(hostport(a.listen))
    srv.listen(16)
    log("%s peer listening on %s (%d pieces)" % (mode, a.listen, geo.pieces))
    while True:
        conn, addr = srv.accept()
        threading.Thread(target=serve_conn, args=(conn, addr, geo, mode, a.delay), daemon=True).start()


# ---- attack mode ----------------------------------------------------------------------

def node_bitfield(s, geo, deadline):
    """Read the node's first messages until its bitfield / have-all / have-none: a set."""
    have = set()
    while time.time() < deadline:
        mid, payload = read_msg(s)
        if mid == 5:
            for i in range(geo.pieces):
                if payload[i // 8] & (0x80 >> (i % 8)):
                    have.add(i)
            return have
        if mid == 0x0E:  # have all
            return set(range(geo.pieces))
        if mid == 0x0F:  # have none
            return have
        if mid == 4:
            have.add(struct.unpack(">I", payload)[0])
    return have


def attack_once(a, geo, kind):
    s = socket.socket()
    if a.bind:
        s.bind((a.bind, 0))
    s.settimeout(a.drop_timeout)
    s.connect(hostport(a.target))
    t_sent = None
    try:
        if kind == "garbage":
            s.sendall(os.urandom(68))
        elif kind == "badproto":
            s.sendall(bytes([19]) + b"BitTorrent protocoX" + bytes(8) + geo.info_hash +
                      os.urandom(20))
        else:
            # a proper peer first: handshake (extension + fast bits), then the node's reply
            s.sendall(handshake(geo.info_hash, bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])))
            hs = recv_exact(s, 68)
            if hs[28:48] != geo.info_hash:
                return "bad reply handshake"
            have = node_bitfield(s, geo, time.time() + a.drop_timeout)
            if kind == "oversize":
                s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x07" + os.urandom(64))
            elif kind == "badindex":
                s.sendall(msg(4, struct.pack(">I", geo.pieces + 7)))
            elif kind == "badrequest":
                s.sendall(msg(2) + msg(6, struct.pack(">III", geo.pieces + 100, 0, 16384)))
            elif kind == "biglen":
                s.sendall(msg(2) + msg(6, struct.pack(">III", 0, 0, 1 << 20)))
            elif kind == "lacking":
                lacking = [i for i in range(geo.pieces) if i not in have]
                if not lacking:
                    return "node has every piece: cannot ask for one it lacks"
                s.sendall(msg(2) + msg(6, struct.pack(">III", lacking[-1], 0, 16384)))
            elif kind == "unsolicited":
                # blocks nobody asked for, with random bytes, for pieces the node lacks:
                # they must not end up in its pieces
                lacking = [i for i in range(geo.pieces) if i not in have]
                if not lacking:
                    return "node has every piece: cannot push one it lacks"
                for i in lacking:
                    # the last block of the piece: in a piece being assembled it is
                    # likely not in yet
                    size = min(geo.piece_length, geo.total - i * geo.piece_length)
                    off = (size - 1) // 16384 * 16384
                    n = min(16384, size - off)
                    s.sendall(struct.pack(">IBII", 9 + n, 7, i, off) + os.urandom(n))
                t_sent = time.time()
                try:
                    while s.recv(65536):
                        pass
                    return "dropped after %.2f s" % (time.time() - t_sent)
                except socket.timeout:
                    return "kept open (data must have been ignored)"
            elif kind == "badbitfield":
                bf = bytearray(full_bitfield(geo.pieces))
                bf[-1] |= 0xFF >> (geo.pieces % 8) if geo.pieces % 8 else 0
                if geo.pieces % 8 == 0:
                    bf.append(0xFF)  # one byte too many
                s.sendall(msg(5, bytes(bf)))
            else:
                return "unknown kind"
        t_sent = time.time()
        # The node may still send things (bitfield, ext handshake, have): read until EOF.
        while True:
            c = s.recv(65536)
            if not c:
                break
        return "dropped after %.2f s" % (time.time() - t_sent)
    except (ConnectionResetError, BrokenPipeError):
        return "dropped after %.2f s" % (time.time() - (t_sent or time.time()))
    except socket.timeout:
        return "NOT dropped"
    except EOFError:
        return "dropped before the attack (during the handshake)"
    finally:
        s.close()


def attack(a):
    geo = Geometry(a)
    ok = True
    for kind in a.kinds.split(","):
        r = attack_once(a, geo, kind)
        print("%s %s" % (kind, r), flush=True)
        if not r.startswith("dropped after") and not r.startswith("kept open"):
            ok = False
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["liar", "silent", "attack"])
    ap.add_argument("--listen")
    ap.add_argument("--target")
    ap.add_argument("--bind")
    ap.add_argument("--info-hash", required=True)
    ap.add_argument("--piece-length", type=int, required=True)
    ap.add_argument("--total-length", type=int, required=True)
    ap.add_argument("--kinds", default="garbage,badproto,oversize,badindex,badrequest,biglen,"
                                       "badbitfield,lacking")
    ap.add_argument("--drop-timeout", type=float, default=5.0)
    ap.add_argument("--delay", type=float, default=0.0,
                    help="liar: wait this long before each corrupt block (a slow liar)")
    a = ap.parse_args()
    if a.mode == "attack":
        return attack(a)
    serve(a, a.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
