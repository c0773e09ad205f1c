#!/usr/bin/python3
"""torrent_info.py FILE: print the info-hash (hex) and the name of a .torrent, one per line.

A minimal bdecoder for trusted benchmark files (the project's strict decoder lives in C).
"""
import hashlib
import sys


def decode(b, i):
    """Return (value, end index) of the bencoded item at b[i]."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i, out = i + 1, []
        while b[i:i + 1] != b"e":
            v, i = decode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i, out = i + 1, {}
        while b[i:i + 1] != b"e":
            k, i = decode(b, i)
            start = i
            v, i = decode(b, i)
            out[k] = v
            if k == b"info":
                out[b"__info_span"] = (start, i)
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def main():
    data = open(sys.argv[1], "rb").read()
    top, _ = decode(data, 0)
    s, e = top[b"__info_span"]
    print(hashlib.sha1(data[s:e]).hexdigest())
    print(top[b"info"][b"name"].decode("utf-8", "replace"))


if __name__ == "__main__":
    main()
