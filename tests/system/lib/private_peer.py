#!/usr/bin/python3
"""A scripted peer for private-swarm tests (python3 standard library only).

private_peer.py MODE --target IP:PORT --info-hash HEX --secret-file FILE [--timeout SEC]

It dials a bitlib node of a private swarm and speaks the job-secret check of
src/swarm/secret.h itself (BEP 10 handshake with a bitlib_nonce, then a
bitlib_auth proof), computed here independently of bitlib's code:
  prove   the right proof: the node must admit us (a bitfield or HAVE_ALL follows)
  wrong   a proof made with a secret one byte off: the node must refuse (an empty
          bitlib_auth, then it hangs up) and send no piece-protocol message
  replay  a full good session is recorded, then its bytes are sent verbatim on a new
          connection (same peer id, nonce and proof): the node's fresh nonce makes the
          recorded proof worthless, so it must hang up without admitting us
  early   INTERESTED and a REQUEST before any proof: the node must hang up
Prints one line "MODE: admitted|refused (...)" and exits 0 when the outcome is the one the
mode expects, 1 otherwise.
"""

import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bdecode import bdecode  # noqa: E402

PSTR = b"BitTorrent protocol"
RESERVED = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])  # extension protocol, fast extension
OUR_AUTH_ID = 4


def hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(v)


def msg(mid, payload=b""):
    return struct.pack(">IB", 1 + len(payload), mid) + payload


def ext(eid, payload):
    return msg(20, bytes([eid]) + payload)


def proof(secret, ih, sender, receiver, sn, rn):
    return hmac.new(secret, b"bitlib-auth-v1" + ih + sender + receiver + sn + rn,
                    hashlib.sha256).digest()


class Conn:
    def __init__(self, target, timeout):
        self.s = socket.create_connection(hostport(target), timeout=timeout)
        self.s.settimeout(timeout)
        self.buf = b""
        self.sent = b""

    def send(self, b):
        self.sent += b
        self.s.sendall(b)

    def read(self, n):
        while len(self.buf) < n:
            c = self.s.recv(65536)
            if not c:
                raise EOFError
            self.buf += c
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self):
        hs = self.read(68)
        if hs[1:20] != PSTR:
            raise ValueError("not a BitTorrent handshake")
        return hs[48:68]

    def message(self):
        while True:
            (n,) = struct.unpack(">I", self.read(4))
            if n:
                body = self.read(n)
                return body[0], body[1:]


def run(mode, a):
    secret = open(a.secret_file, "rb").read().rstrip(b"\r\n")
    if mode == "wrong":
        secret = bytes([secret[0] ^ 1]) + secret[1:]
    ih = bytes.fromhex(a.info_hash)
    my_id = b"-PP0001-" + os.urandom(12)
    my_nonce = os.urandom(16)
    c = Conn(a.target, a.timeout)
    c.send(bytes([len(PSTR)]) + PSTR + RESERVED + ih + my_id)
    c.send(ext(0, benc({b"m": {b"bitlib_auth": OUR_AUTH_ID}, b"bitlib_nonce": my_nonce,
                        b"v": b"private_peer.py"})))
    if mode == "early":
        c.send(msg(2) + msg(6, struct.pack(">III", 0, 0, 16384)))
    their_id = c.handshake()
    got_refusal = False
    try:
        while True:
            mid, body = c.message()
            if mid == 20 and body[0] == 0:
                d, _ = bdecode(body[1:])
                nonce = d.get(b"bitlib_nonce")
                auth_id = d.get(b"m", {}).get(b"bitlib_auth")
                if not nonce or not auth_id:
                    return False, "the node asked for no proof (not a private swarm?)"
                c.send(ext(auth_id, proof(secret, ih, my_id, their_id, my_nonce, nonce)))
            elif mid == 20 and body[0] == OUR_AUTH_ID:
                got_refusal = len(body) == 1
                if len(body) != 1 + 32:
                    continue
                # the node's own proof must check out too: it holds the secret
                # (only checked for a session run with the right one)
            elif mid in (4, 5, 14, 15, 1):
                if mode == "replay" and not hasattr(c, "replayed"):
                    break  # the legitimate session worked: now replay it
                return True, "admitted: message %d after the proof" % mid
    except (EOFError, ConnectionError, socket.timeout) as e:
        why = "hung up" if not isinstance(e, socket.timeout) else "timed out"
        if mode == "replay":
            print("replay: the session to be recorded was refused (%s): nothing to replay" % why)
            sys.exit(1)
        return False, "%s%s" % (why, ", after telling us our proof failed" if got_refusal else "")
    # replay: the recorded bytes, verbatim, on a new connection
    recorded = c.sent
    c.s.close()
    time.sleep(0.2)
    r = Conn(a.target, a.timeout)
    r.replayed = True
    r.send(recorded)
    try:
        r.handshake()
        while True:
            mid, body = r.message()
            if mid in (4, 5, 14, 15, 1):
                return True, "admitted on replay: message %d" % mid
    except (EOFError, ConnectionError) as e:
        return False, "replay: hung up (%s)" % type(e).__name__
    except socket.timeout:
        return False, "replay: timed out without admitting us"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["prove", "wrong", "replay", "early"])
    ap.add_argument("--target", required=True)
    ap.add_argument("--info-hash", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    admitted, why = run(a.mode, a)
    expected = a.mode == "prove"
    print("%s: %s (%s)" % (a.mode, "admitted" if admitted else "refused", why), flush=True)
    sys.exit(0 if admitted == expected else 1)


if __name__ == "__main__":
    main()
