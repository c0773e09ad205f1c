#!/usr/bin/python3
"""A seeder that chokes like stock clients do, for system tests (python3 standard library only).

round_seeder.py --torrent T --data DIR --listen IP:PORT [--round SEC] [--update-after SEC]

Serves the torrent's data from DIR (multi-file: DIR holds the files under their paths;
BEP 47 padding files are zeros and need not exist).  Like a stock client with choke rounds:
  - a peer that says "not interested" is choked at once (within a millisecond);
  - a peer that says "interested" is unchoked only at the next choke round (every --round
    seconds, default 30, counted from start), not before;
  - requests from a choked peer are ignored (no fast extension).
Every connection gets its own random peer id (as libtorrent 2 does).  It announces BEP 10
with a client name ("RoundSeeder 1.0") and ut_pex; with --update-after SEC it sends, that
long after each connection's handshake, a second extension handshake disabling ut_pex
only ("d1:md6:ut_pexi0eee"), which a BEP 10 peer must treat as an update.
Runs until killed; logs one line per event: "T conn N EVENT", T in seconds since start.
"""

import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bdecode import bdecode  # noqa: E402

PSTR = b"BitTorrent protocol"
T0 = time.time()
LOCK = threading.Lock()
CONNS = []


def log(*a):
    print("%.3f" % (time.time() - T0), *a, flush=True)


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)


class Data:
    """The torrent's byte stream, read from files under a directory."""

    def __init__(self, torrent, root):
        raw = open(torrent, "rb").read()
        # the info-hash: SHA-1 of the info dict's bytes as they stand in the file
        i, info = 1, None
        while raw[i:i + 1] != b"e":
            k, i = bdecode(raw, i)
            start = i
            v, i = bdecode(raw, i)
            if k == b"info":
                info, self.info_hash = v, hashlib.sha1(raw[start:i]).digest()
        self.piece_length = info[b"piece length"]
        self.files = []  # (offset, length, path or None for padding)
        off = 0
        if b"files" in info:
            for f in info[b"files"]:
                pad = b"p" in f.get(b"attr", b"")
                path = None if pad else os.path.join(root, *[c.decode() for c in f[b"path"]])
                self.files.append((off, f[b"length"], path))
                off += f[b"length"]
        else:
            self.files.append((0, info[b"length"], root))
            off = info[b"length"]
        self.total = off
        self.pieces = (off + self.piece_length - 1) // self.piece_length

    def read(self, pos, n):
        out = bytearray()
        for off, length, path in self.files:
            if n == 0:
                break
            if pos >= off + length or length == 0:
                continue
            take = min(n, off + length - pos)
            if path is None:
                out += bytes(take)
            else:
                with open(path, "rb") as fh:
                    fh.seek(pos - off)
                    out += fh.read(take)
            pos += take
            n -= take
        return bytes(out)


class Conn:
    def __init__(self, sock, n, data, args):
        self.sock, self.n, self.data, self.args = sock, n, data, args
        self.send_lock = threading.Lock()
        self.choked = True
        self.interested = False
        self.alive = True

    def send(self, b):
        with self.send_lock:
            self.sock.sendall(b)

    def msg(self, mid, payload=b""):
        self.send(struct.pack(">IB", 1 + len(payload), mid) + payload)

    def set_choke(self, choke, why):
        if self.choked == choke:
            return
        self.choked = choke
        self.msg(0 if choke else 1)
        log("conn", self.n, "choke" if choke else "unchoke", "(%s)" % why)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            c = self.sock.recv(n - len(buf))
            if not c:
                raise EOFError
            buf += c
        return buf

    def run(self):
        d, a = self.data, self.args
        try:
            hs = self.recv_exact(68)
            if hs[1:20] != PSTR or hs[28:48] != d.info_hash:
                log("conn", self.n, "bad handshake")
                return
            reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0])
            self.send(bytes([19]) + PSTR + reserved + d.info_hash + b"-RS0100-" + os.urandom(6).hex().encode())
            ext = {b"m": {b"ut_pex": 1, b"ut_metadata": 2}, b"p": a.port, b"reqq": 250,
                   b"v": b"RoundSeeder 1.0"}
            self.msg(20, b"\x00" + benc(ext))
            bf = bytearray((d.pieces + 7) // 8)
            for i in range(d.pieces):
                bf[i // 8] |= 0x80 >> (i % 8)
            self.msg(5, bytes(bf))
            log("conn", self.n, "handshake done")
            if a.update_after:
                t = threading.Timer(a.update_after, self.send_update)
                t.daemon = True
                t.start()
            served = 0
            while True:
                (length,) = struct.unpack(">I", self.recv_exact(4))
                if length == 0:
                    continue
                body = self.recv_exact(length)
                mid, payload = body[0], body[1:]
                with LOCK:
                    if mid == 2:
                        self.interested = True
                        log("conn", self.n, "interested")
                    elif mid == 3:
                        self.interested = False
                        log("conn", self.n, "not interested")
                        self.set_choke(True, "lost interest")
                    elif mid == 6 and not self.choked:
                        index, begin, n = struct.unpack(">III", payload)
                        block = d.read(index * d.piece_length + begin, n)
                        self.send(struct.pack(">IBII", 9 + len(block), 7, index, begin) + block)
                        served += 1
                        if served % 50 == 1:
                            log("conn", self.n, "served %d blocks" % served)
        except (EOFError, OSError, ValueError) as e:
            log("conn", self.n, "closed:", type(e).__name__, e)
        finally:
            self.alive = False
            self.sock.close()

    def send_update(self):
        try:
            self.msg(20, b"\x00d1:md6:ut_pexi0eee")
            log("conn", self.n, "sent extension handshake update (ut_pex disabled)")
        except OSError:
            pass


def rounds(period):
    k = 1
    while True:
        time.sleep(max(0.0, T0 + k * period - time.time()))
        k += 1
        with LOCK:
            log("choke round")
            for c in CONNS:
                if not c.alive:
                    continue
                try:
                    c.set_choke(not c.interested, "round")
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--round", type=float, default=30.0)
    ap.add_argument("--update-after", type=float, default=0.0)
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    a.port = int(port)
    data = Data(a.torrent, a.data)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, a.port))
    srv.listen(16)
    log("seeding %d pieces on %s, choke round every %.0f s" % (data.pieces, a.listen, a.round))
    threading.Thread(target=rounds, args=(a.round,), daemon=True).start()
    n = 0
    while True:
        sock, addr = srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n += 1
        c = Conn(sock, n, data, a)
        with LOCK:
            CONNS.append(c)
        log("conn", n, "from %s:%d" % addr)
        threading.Thread(target=c.run, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
