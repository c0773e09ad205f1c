#!/usr/bin/python3
"""scrape.py ANNOUNCE_URL INFOHASH_HEX: print "complete incomplete" from the tracker's scrape.

Exits 1 (printing nothing) when the tracker cannot be reached or does not know the hash.
"""
import re
import sys
import urllib.parse
import urllib.request

url, ih = sys.argv[1], bytes.fromhex(sys.argv[2])
if "/announce" not in url:
    sys.exit(1)
scrape = url.replace("/announce", "/scrape", 1)
scrape += ("&" if "?" in scrape else "?") + "info_hash=" + urllib.parse.quote_from_bytes(ih)
try:
    body = urllib.request.urlopen(scrape, timeout=2).read()
except Exception:
    sys.exit(1)
c = re.search(rb"8:completei(\d+)e", body)
n = re.search(rb"10:incompletei(\d+)e", body)
if not c:
    sys.exit(1)
print(int(c.group(1)), int(n.group(1)) if n else 0)
