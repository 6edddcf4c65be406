"""Source catalogs kept between runs, keyed by file content and detection parameters.

The common interactive loop changes matching or fit parameters and refits;
detection, the slow part, gives the same catalogs as long as the pixels,
the chip's exclusions and the detection parameters are the same.  A key
(:meth:`CatalogCache.key`) is a hash of

- the file's identity and content: size, modification time (ns), inode and
  a BLAKE2 hash of its first and last 64 KiB (all FITS headers of a
  simple image and the end of its data; a rewritten file changes its
  mtime anyway),
- the chip (HDU index, name, shape) and its exclusion regions,
- every parameter of the ``finder`` and ``background`` groups of the spec,
- the tweakgui version (a new detection code gives new catalogs).

Catalogs live in an in-memory LRU (the GUI's session) and, optionally, in a
directory as ``<key>.npy`` files written atomically, so a later process (a
re-run of ``tweakgui align``) reuses them too.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy.table import Table

__all__ = ["CatalogCache", "DETECTION_GROUPS", "detection_params", "file_fingerprint", "default_cache"]

log = logging.getLogger(__name__)

DETECTION_GROUPS = ("finder", "background")
_EDGE = 64 * 1024


def detection_params(params) -> dict:
    """The parameters that change a detected catalog (the finder and background groups)."""
    from tweakgui.engine.params.spec import SPEC

    return {s.name: getattr(params, s.name) for s in SPEC if s.group in DETECTION_GROUPS}


def file_fingerprint(path) -> str:
    """Size, mtime, inode and a hash of the first and last 64 KiB of ``path``."""
    st = os.stat(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_EDGE))
        if st.st_size > 2 * _EDGE:
            f.seek(-_EDGE, os.SEEK_END)
            h.update(f.read(_EDGE))
    return h.hexdigest()


class CatalogCache:
    """An LRU of detected catalogs, optionally backed by a directory.

    Parameters
    ----------
    maxsize : int
        Number of chip catalogs kept in memory (a 200-source catalog is ~10 KB).
    directory : str or os.PathLike, optional
        Where catalogs are also written (created if needed) and looked up
        when they are not in memory.

    Attributes
    ----------
    hits, misses : int
        Lookups answered and not answered since creation (or :meth:`clear`).
    """

    def __init__(self, maxsize: int = 4096, directory=None):
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = int(maxsize)
        self.directory = Path(directory) if directory is not None else None
        self._mem: OrderedDict[str, Table] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, exposure, chip, params) -> str:
        """The cache key of one chip's catalog for these detection parameters."""
        from tweakgui import __version__

        desc = {
            "file": file_fingerprint(exposure.path),
            "chip": [chip.hdu, chip.name, list(chip.shape)],
            "exclusion": repr(chip.meta.get("exclusion")),
            "params": detection_params(params),
            "version": __version__,
        }
        text = json.dumps(desc, sort_keys=True, default=repr)
        return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

    def get(self, key: str) -> Table | None:
        """A copy of the catalog stored under ``key``, or None."""
        with self._lock:
            cat = self._mem.get(key)
            if cat is not None:
                self._mem.move_to_end(key)
        if cat is None and self.directory is not None:
            cat = self._read(key)
            if cat is not None:
                self._remember(key, cat)
        with self._lock:
            if cat is None:
                self.misses += 1
                return None
            self.hits += 1
        return cat.copy()

    def put(self, key: str, catalog: Table) -> None:
        """Store a copy of ``catalog`` under ``key`` (in memory and in the directory)."""
        cat = catalog.copy()
        self._remember(key, cat)
        if self.directory is not None:
            self._write(key, cat)

    def clear(self) -> None:
        """Forget the in-memory catalogs and reset the counters (files stay)."""
        with self._lock:
            self._mem.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._mem)

    def _remember(self, key, cat):
        with self._lock:
            self._mem[key] = cat
            self._mem.move_to_end(key)
            while len(self._mem) > self.maxsize:
                self._mem.popitem(last=False)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def _read(self, key: str) -> Table | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            arr = np.load(p, allow_pickle=False)
            return Table(arr)
        except (OSError, ValueError) as e:  # a damaged file is a miss, not an error
            log.warning("catalog cache: ignoring unreadable %s (%s)", p, e)
            return None

    def _write(self, key: str, cat: Table) -> None:
        from tweakgui.engine.io.atomic import atomic_write_bytes

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.save(buf, cat.as_array(), allow_pickle=False)
            atomic_write_bytes(self._path(key), buf.getvalue())
        except Exception as e:  # a cache that cannot be written must not fail the run
            log.warning("catalog cache: cannot write to %s (%s)", self.directory, e)


_DEFAULT: CatalogCache | None = None


def default_cache() -> CatalogCache:
    """The process-wide in-memory cache that :func:`pipeline.run` uses by default.

    ``TWEAKGUI_CACHE_DIR`` in the environment adds an on-disk directory.
    """
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CatalogCache(directory=os.environ.get("TWEAKGUI_CACHE_DIR") or None)
    return _DEFAULT
