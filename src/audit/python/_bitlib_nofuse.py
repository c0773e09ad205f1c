"""bitlib run --no-fuse: Python imports from a set that has no FUSE mount.

Without a mount, the set's files sit in the node daemon's tree
(CACHE/.bitlib-tree) and a file appears there only once it is complete and
verified.  Python's own path finder lists a directory and opens what it finds,
so a module whose file is not local yet would simply be missing.  This module
puts a finder first on sys.meta_path that, for every search location under the
tree, looks the module's candidate files up in the set's names alone (the tree
index the daemon wrote, fs/treeidx.h), asks the daemon over its control socket
("fetch PATH", fs/ctl.h) to make the first one that the standard finder would
pick local, and waits; then it returns the standard path finder's spec (its
directory cache refreshed where needed), with a source loader that writes no
.pyc into the tree, as a read-only mount would take none.  Extension modules
are then loaded through the LD_AUDIT library like any library.  A module of
which the set holds no file is left to the finders after this one (None).

  - a search location under the set's mount point (BITLIB_AUDIT_MOUNT), which
    does not exist without a mount, is taken as the same place in the tree;
  - a module outside the tree (the standard library, the caller's own
    packages) falls through without a single file system access here;
  - a name the set does not hold costs no request either;
  - the daemon gone, not answering within BITLIB_AUDIT_TIMEOUT_MS, or failing
    the fetch: ImportError naming the module and the file, never a hang; after
    the daemon was found gone once, later imports do not wait for it again.

Configuration, from the environment bitlib run sets: BITLIB_TREE,
BITLIB_AUDIT_INDEX, BITLIB_AUDIT_SOCKET, BITLIB_AUDIT_TIMEOUT_MS,
BITLIB_AUDIT_VERBOSE (1: one line on stderr per fetched file).  Without TREE
and SOCKET nothing is installed.  Activated by the sitecustomize.py beside it
(a directory on PYTHONPATH; .pth files are read only in site directories).
"""

# What every finder call needs is imported here, before the finder is installed.
# json and socket (about 5 ms at start-up) only when a module of the set is asked
# for: an import made inside find_spec comes back to find_spec, which the
# per-thread guard then passes on (find_spec below).
import _thread
import importlib.machinery as _machinery
import importlib.util as _util
import os
import sys

_TIMEOUT_MS_DEFAULT = 70000


class BitlibFinder:
    """A sys.meta_path finder that makes a module's files local, then answers with the
    standard path finder's spec; a module the set does not hold is not its business."""

    def __init__(self, tree, index, sock, timeout_ms, verbose, mount=""):
        self.tree = tree.rstrip("/") or "/"
        # the set's mount point: a search location under it (PYTHONPATH=/opt/app/py, as
        # a job script written for the mount sets it) is the same place in the tree
        m = mount.rstrip("/")
        self.mount = m if m.startswith("/") and m != self.tree else ""
        self.index_path = index
        self.sock = sock
        self.timeout = timeout_ms / 1000.0
        self.verbose = verbose
        self.names = None  # set-relative path -> 'f', 'd' or 'l', read on first use
        self.gone = None  # why the daemon was found gone
        self.fetches = 0
        # the threads inside find_spec.  (CPython calls meta-path finders under its
        # global import lock, so another thread's import waits behind a fetch anyway;
        # per thread, the guard stays right where that is not so.)
        self.busy = set()

    # ---- the set's names ------------------------------------------------------------

    def _load_index(self):
        names = {}
        try:
            with open(self.index_path, "rb") as f:
                data = f.read()
            lines = data.decode("utf-8", "surrogateescape").split("\n")
            if lines[0] != "bitlib-tree-index 1":
                raise ValueError("wrong header")
            for ln in lines[1:]:
                if len(ln) > 2 and ln[1] == " ":
                    names[ln[2:]] = ln[0]
        except (OSError, ValueError) as e:
            sys.stderr.write("bitlib-python: cannot read the tree index %s (%s); imports "
                             "from the set wait for nothing\n" % (self.index_path, e))
        self.names = names

    def _rel(self, entry):
        """The set-relative directory of search location entry, or None."""
        if not isinstance(entry, str) or not entry.startswith(self.tree):
            return None
        rest = entry[len(self.tree):]
        if rest and rest[0] != "/":
            return None
        rel = rest.strip("/")
        if self.names is None:
            self._load_index()
        if rel == "" or self.names.get(rel) == "d":
            return rel
        if self.names.get(rel) == "l" or any(self.names.get(p) == "l" for p in _parents(rel)):
            # through a symlink of the set: where it leads in the tree
            real = os.path.realpath(entry)
            if real.startswith(self.tree + "/"):
                r = real[len(self.tree) + 1:]
                if self.names.get(r) == "d":
                    return r
        return None

    # ---- what the standard finder would open ----------------------------------------

    def _candidates(self, rel, tail):
        """The set-relative files the path finder would use for module tail in rel."""
        m, u = _machinery, _util
        names = self.names
        order = [(s, False) for s in m.EXTENSION_SUFFIXES] + \
                [(s, True) for s in m.SOURCE_SUFFIXES] + \
                [(s, False) for s in m.BYTECODE_SUFFIXES]
        base = rel + "/" + tail if rel else tail
        if names.get(base) == "d":
            for suffix, source in order:
                p = base + "/__init__" + suffix
                if names.get(p) == "f":
                    return self._with_cache(p, source, u)
        for suffix, source in order:
            p = base + suffix
            if names.get(p) == "f":
                return self._with_cache(p, source, u)
        return []

    def _with_cache(self, path, source, u):
        files = [path]
        if source:
            try:
                pyc = u.cache_from_source("/" + path)[1:]
            except NotImplementedError:  # sys.implementation.cache_tag is None
                pyc = None
            if pyc and self.names.get(pyc) == "f":
                files.append(pyc)
        return files

    # ---- the daemon -----------------------------------------------------------------

    def _fetch(self, rel):
        """Make set-relative rel local: None, or why not."""
        if self.gone:
            return self.gone
        import json  # (see the imports at the top)
        import socket

        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as e:
            return "socket: %s" % e
        try:
            s.settimeout(self.timeout)
            try:
                s.connect(self.sock)
            except OSError as e:
                self.gone = "no bitlib daemon answers on %s (%s)" % (self.sock, e.strerror or e)
                return self.gone
            s.sendall(("fetch %s\n" % rel).encode("utf-8", "surrogateescape"))
            buf = b""
            while b"\n" not in buf:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    self.gone = "the bitlib daemon on %s did not answer within %d ms" % (
                        self.sock, int(self.timeout * 1000))
                    return self.gone
                if not chunk:
                    self.gone = ("the bitlib daemon on %s closed the connection without an "
                                 "answer (it is gone)" % self.sock)
                    return self.gone
                buf += chunk
                if len(buf) > 65536:
                    return "answer from %s too long" % self.sock
        except OSError as e:
            self.gone = "%s: %s" % (self.sock, e)
            return self.gone
        finally:
            s.close()
        try:
            reply = json.loads(buf.split(b"\n", 1)[0].decode("utf-8", "surrogateescape"))
        except ValueError:
            return "unexpected answer from %s" % self.sock
        if not isinstance(reply, dict):
            return "unexpected answer from %s" % self.sock
        if reply.get("ok") is True:
            self.fetches += 1
            return None
        return "the bitlib daemon says: %s" % reply.get("error", "no reason given")

    # ---- the finder protocol --------------------------------------------------------

    def find_spec(self, fullname, path=None, target=None):
        me = _thread.get_ident()
        if me in self.busy:
            return None  # an import made while looking (a codec, say): not ours to wait for
        self.busy.add(me)
        try:
            return self._find(fullname, path)
        finally:
            self.busy.discard(me)

    def _in_tree(self, entry):
        """entry, or the same place in the tree if it lies under the mount point."""
        m = self.mount
        if m and isinstance(entry, str) and entry.startswith(m) and entry[len(m):len(m) + 1] in ("", "/"):
            return self.tree + entry[len(m):]
        return entry

    def _find(self, fullname, path):
        entries = list(sys.path if path is None else path)
        if self.mount:
            moved = [self._in_tree(e) for e in entries]
            if moved != entries:
                entries = path = moved
        tail = fullname.rpartition(".")[2]
        for entry in entries:
            rel = self._rel(entry)
            if rel is None:
                continue
            files = self._candidates(rel, tail)
            if not files:
                continue  # not in this directory of the set: the next entry may have it
            for f in files:
                local = self.tree + "/" + f
                if os.path.exists(local):
                    continue  # local already (another process of the node asked for it)
                why = self._fetch(f)
                if why is not None:
                    raise ImportError("bitlib: cannot import %s: %s: %s" % (fullname, local, why),
                                      name=fullname, path=local)
                if self.verbose:
                    sys.stderr.write("bitlib-python: %s -> %s (fetched)\n" % (fullname, local))
            # The path finder lists a directory once and lists it again only when its
            # mtime changes; the daemon gives a tree directory the description's mtime
            # again after every file it renames in, so a listing made before the file
            # arrived (here, or while another process fetched it) is refreshed by hand.
            name = (files[0][len(rel) + 1:] if rel else files[0]).split("/", 1)[0]
            finder = sys.path_importer_cache.get(entry)
            if finder is not None and hasattr(finder, "invalidate_caches"):
                cached = getattr(finder, "_path_cache", None)
                if not isinstance(cached, (set, frozenset)) or name not in cached:
                    finder.invalidate_caches()
            # the first directory that has it is the one the path finder uses: its
            # spec, with a loader that leaves the tree as the set has it (no .pyc
            # written into it, as a read-only mount would not take one)
            spec = _machinery.PathFinder.find_spec(fullname, path)
            if (spec is not None and type(spec.loader) is _machinery.SourceFileLoader and
                    isinstance(spec.origin, str) and spec.origin.startswith(self.tree + "/")):
                spec.loader = _TreeSourceLoader(spec.loader.name, spec.loader.path)
            return spec
        return None

    def invalidate_caches(self):
        pass


class _TreeSourceLoader(_machinery.SourceFileLoader):
    """A module's source in the tree: read its .pyc if the set has one, never write one."""

    def set_data(self, path, data, *, _mode=0o666):
        pass


def _parents(rel):
    i = rel.find("/")
    while i >= 0:
        yield rel[:i]
        i = rel.find("/", i + 1)


def install():
    """Put the finder first on sys.meta_path, once, if bitlib run configured it."""
    tree = os.environ.get("BITLIB_TREE", "")
    sock = os.environ.get("BITLIB_AUDIT_SOCKET", "")
    index = os.environ.get("BITLIB_AUDIT_INDEX", "")
    if not tree.startswith("/") or not sock.startswith("/"):
        return None
    for f in sys.meta_path:
        if isinstance(f, BitlibFinder) or type(f).__name__ == "BitlibFinder":
            return f
    try:
        ms = int(os.environ.get("BITLIB_AUDIT_TIMEOUT_MS", ""))
    except ValueError:
        ms = 0
    if not 0 < ms < 86400000:
        ms = _TIMEOUT_MS_DEFAULT
    f = BitlibFinder(tree, index, sock, ms, os.environ.get("BITLIB_AUDIT_VERBOSE") == "1",
                     os.environ.get("BITLIB_AUDIT_MOUNT", ""))
    sys.meta_path.insert(0, f)
    return f
