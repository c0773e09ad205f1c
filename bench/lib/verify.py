#!/usr/bin/python3
"""verify.py SRC DST...: check that every regular file under SRC exists with identical content
under each DST.  Prints one line per DST ("DST ok N files" or "DST BAD: ...") and exits 1 if
any DST differs.  Extra files in a DST are ignored (clients keep control files beside data).
"""
import hashlib
import os
import sys


def digests(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            if os.path.isfile(p) and not os.path.islink(p):
                out[os.path.relpath(p, root)] = p
    return out


def sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    src, dsts = sys.argv[1], sys.argv[2:]
    want = {rel: (os.path.getsize(p), sha1(p)) for rel, p in digests(src).items()}
    bad = 0
    for dst in dsts:
        problems = []
        for rel, (size, h) in sorted(want.items()):
            p = os.path.join(dst, rel)
            if not os.path.isfile(p):
                problems.append("missing " + rel)
            elif os.path.getsize(p) != size:
                problems.append("size of " + rel)
            elif sha1(p) != h:
                problems.append("content of " + rel)
            if len(problems) >= 3:
                break
        if problems:
            bad += 1
            print("%s BAD: %s" % (dst, ", ".join(problems)))
        else:
            print("%s ok %d files" % (dst, len(want)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
