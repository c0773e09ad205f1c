"""bitlib run --no-fuse puts this directory first on PYTHONPATH: install the
import hook (_bitlib_nofuse.py), then run the sitecustomize this one shadows
(the distribution's, or one on the rest of sys.path), as if this were not here."""
import os as _os
import sys as _sys


def _chain():
    import importlib.machinery
    import importlib.util

    here = _os.path.dirname(_os.path.abspath(__file__))
    rest = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    mod = importlib.util.module_from_spec(spec)
    _sys.modules["sitecustomize"] = mod
    spec.loader.exec_module(mod)


try:
    import _bitlib_nofuse

    _bitlib_nofuse.install()
finally:
    _chain()
