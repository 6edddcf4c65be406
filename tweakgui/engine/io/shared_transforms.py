"""Many GWCS files read with each distinct transform built once and shared between them.

The detector → V2/V3 step of a NIRCam GWCS (its distortion: 14 models and
their inverses) is the same in every file of one detector and filter, and
building its astropy models is half the cost of reading the file (22 of
45 ms).  :func:`read_gwcs_tree` converts a step's transform only the first
time its content (the YAML nodes and the array data) is seen in a reading
session, a ``dict`` the caller keeps for the files of one visit, and hands
out the same model after that; everything else is converted by asdf as
usual, so the GWCS are those asdf would give.  Once a first step's content is
known, a file holding it as the same YAML text and blocks is parsed with a
marker in its place (~8 of ~17 ms per CEERS file).  Shared transforms are never
changed in place by tweakgui (a corrected GWCS is a new one around them:
:mod:`tweakgui.engine.fit.corrector`), and they are pickled once per batch
sent to another process.

Many files (a mosaic) are read in worker processes by
:func:`read_in_processes`: unpickling a GWCS costs the parent ~2 ms where
reading it costs ~20 ms.  The transforms that come back are shared again by
content in the parent's ``shared``, and :func:`read_gwcs_tree` hands each
file's GWCS out from there.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os

import asdf
import numpy as np
from asdf.tagged import Tagged
from asdf.yamlutil import tagged_tree_to_custom_tree

from tweakgui.engine.io import asdf_text as at
from tweakgui.engine.io.atomic import file_version
from tweakgui.engine.processes import batches, die_with_parent, pool_context, single_threaded

__all__ = ["load_asdf_extensions", "read_gwcs_tree", "read_in_processes", "MIN_FILES"]

log = logging.getLogger(__name__)

MIN_FILES = 64  # below this, starting processes costs more than it saves

_NDARRAY = "/core/ndarray-"


def _digest(node, af, h) -> None:
    """Feed the content of a tagged YAML node into ``h``: tags, keys, values, array data."""
    tag = getattr(node, "_tag", None)
    if tag:
        h.update(b"!" + tag.encode())
        if _NDARRAY in tag:  # an array may live in a binary block: its data, not its block number
            a = np.asarray(tagged_tree_to_custom_tree(node, af))
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
            return
    if isinstance(node, dict):
        h.update(b"{")
        for k in sorted(node, key=str):
            h.update(repr(k).encode())
            _digest(node[k], af, h)
        h.update(b"}")
    elif isinstance(node, (list, tuple)):
        h.update(b"[")
        for v in node:
            _digest(v, af, h)
        h.update(b"]")
    else:
        h.update(repr(node).encode())


def _tagged_root(af):
    """The tagged (unconverted) tree of a file opened with ``lazy_tree``, or None."""
    root = af.tree
    for candidate in (root, getattr(root, "data", None)):
        tagged = getattr(candidate, "tagged", None)
        if isinstance(tagged, dict):
            return tagged
    return None


def _file_key(path):
    """A file as it is now (:func:`file_version`): the key of its GWCS read ahead in ``shared``."""
    version = file_version(path)
    return None if version is None else ("file", *version)


def read_gwcs_tree(path, shared: dict, step_keys: list | None = None):
    """``(wcs, wcsinfo)`` of a GWCS file, its step transforms taken from or added to ``shared``.

    Returns None where the file's tree does not have the expected layout (a
    ``wcs`` node with ``steps``) or asdf cannot give its tagged tree; the
    caller then reads the file the usual way.  Errors of a bad file propagate.
    A file :func:`read_in_processes` read is taken from ``shared`` (once).
    ``step_keys``: filled with each step's content key (None: no transform).
    """
    ahead = shared.pop(_file_key(path), None)
    if ahead is not None:
        return ahead
    keys: list = []
    data = _file_bytes(path)
    text = _first_step_text(data) if data is not None else None
    read = None
    if text is not None and shared.get(text[0]) in shared:
        read = _read_reusing_first_step(data, text, shared, keys)
    if read is None:
        keys.clear()
        # the bytes in hand, not the file read again
        with asdf.open(io.BytesIO(data) if data is not None else path, lazy_tree=True, lazy_load=False,
                       memmap=False) as af:
            read = _gwcs_from(af, shared, keys)
        if read is not None and text is not None and keys and keys[0] is not None:
            shared[text[0]] = keys[0]  # the next file with this text need not parse it
    if read is not None and step_keys is not None:
        step_keys.extend(keys)
    return read


def _file_bytes(path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _gwcs_from(af, shared: dict, keys: list, first=None):
    """``(wcs, wcsinfo)`` of an opened file; ``first``: the content key of a first step's transform
    already in ``shared``, which the file holds as :data:`_MARKER` (None when it does not)."""
    raw = _tagged_root(af)
    node = None if raw is None else raw.get("wcs")
    steps = node.get("steps") if isinstance(node, dict) else None
    if not isinstance(steps, list):
        return None
    for i, step in enumerate(steps):
        t = step.get("transform") if isinstance(step, dict) else None
        if first is not None and i == 0:
            if t != _MARKER.decode():
                return None
            key = first
        elif not isinstance(t, Tagged):
            keys.append(None)
            continue
        else:
            h = hashlib.sha1(usedforsecurity=False)
            _digest(t, af, h)
            key = h.hexdigest()
            if key not in shared:
                shared[key] = tagged_tree_to_custom_tree(t, af)
        keys.append(key)
        step["transform"] = shared[key]
    wcs = tagged_tree_to_custom_tree(node, af)
    info = raw.get("wcsinfo")
    wcsinfo = dict(tagged_tree_to_custom_tree(info, af)) if info is not None else {}
    return wcs, wcsinfo


# A detector's files hold its distortion (the first step's transform) as the same YAML text and blocks:
# once its content is known, a file is parsed with that text replaced by a marker of the same length
# (the blocks' offsets stay), about half of the parsing, and no digest of the distortion.
_MARKER = b"tweakgui-known-first-step"


def _first_step_text(data: bytes):
    """``(("text", digest), (start, end))``: the first step's transform as text and blocks, and its bytes'
    range in ``data``; None when the text cannot stand for the transform (aliases across its border)."""
    try:
        f = at.split(data)
    except ValueError:
        return None
    span = at.first_transform(f.lines)
    if span is None:
        return None
    start, end = span
    node = b"".join(f.lines[start:end])
    marks = [(m[1], m[2]) for m in at.ANCHOR.finditer(node)]
    inside = {n for kind, n in marks if kind == b"&"}
    if any(kind == b"*" and n not in inside for kind, n in marks):
        return None
    if inside and any(m[1] == b"*" and m[2] in inside for m in at.ANCHOR.finditer(b"".join(f.lines[end:]))):
        return None
    h = hashlib.sha1(node, usedforsecurity=False)
    for m in at.SOURCE.finditer(node):
        n = int(m[2])
        if n >= len(f.blocks):
            return None
        h.update(f.blocks[n])
    offset = sum(len(ln) for ln in f.lines[:start])
    return ("text", h.hexdigest()), (offset, offset + len(node))


def _read_reusing_first_step(data: bytes, text, shared: dict, keys: list):
    (tkey, (start, end)) = text
    depth = at.indent(data[start:end])
    line = b" " * depth + b"transform: " + _MARKER + b"\n"
    room = (end - start) - len(line) - depth - 2
    if room < 0:
        return None
    filler = b" " * depth + b"#" + b" " * room + b"\n"  # a comment: the file keeps its length
    with asdf.open(io.BytesIO(data[:start] + line + filler + data[end:]), lazy_tree=True, lazy_load=False,
                   memmap=False) as af:
        return _gwcs_from(af, shared, keys, first=shared[tkey])


_WORKER_SHARED: dict = {}  # a reading worker's transforms, kept for its next batches


def _read_batch(paths) -> list:
    """``(wcs, wcsinfo, step keys)`` per file, or None where the parent should read it itself."""
    shared = _WORKER_SHARED
    out = []
    for path in paths:
        keys: list = []
        try:
            read = read_gwcs_tree(path, shared, keys)
        except Exception:  # read again by the parent, whose error names the file's fault
            read = None
        out.append(None if read is None or len(keys) != len(read[0].pipeline) else (*read, keys))
    return out


def load_asdf_extensions() -> None:
    """Load asdf's extensions here, before worker processes are forked from this one.

    asdf finds them through the installed packages' entry points on first use:
    ~1.9 s on a machine with many packages, paid by each process that has not
    (every forked reader and writer of a mosaic).
    """
    asdf.get_config().extensions  # noqa: B018 - cached by asdf's config


def read_in_processes(paths, shared: dict, jobs: int, extra=()) -> int:
    """Read the GWCS files ``paths`` in ``jobs`` processes into ``shared``; the number read.

    Nothing happens for fewer than :data:`MIN_FILES` files, ``jobs`` < 2, or
    from a process with other threads (the GUI's).
    A file a worker cannot read (not a GWCS file, a bad one) is left to
    :func:`read_gwcs_tree`, which reads it in this process.  ``extra``:
    ``(function, argument, receive)`` run by the same processes meanwhile
    (a mosaic's catalogs), each ``receive(function(argument))`` called here
    after the GWCS are in; not run when the GWCS are not read in processes.
    """
    from concurrent.futures import ProcessPoolExecutor

    paths = [str(p) for p in paths]
    if jobs < 2 or len(paths) < MIN_FILES:
        return 0
    if not single_threaded():
        # a GUI's thread: the parent unpickles each batch in one call, holding the GIL for ~0.2 s
        # while the GUI thread waits (measured: a 292 ms gap loading 690 files); small batches
        # would pickle each detector's distortion again and again. Read here, as before.
        return 0
    load_asdf_extensions()
    log.info("reading %d GWCS files in %d processes", len(paths), jobs)
    done = 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context(), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = [(b, pool.submit(_read_batch, b)) for b in batches(paths, 4 * jobs)]
        # run by the workers while this process takes in the GWCS
        others = [(pool.submit(fn, arg), receive) for fn, arg, receive in extra]
        for batch, fut in futures:
            for path, read in zip(batch, fut.result()):
                if read is None:
                    continue
                wcs, wcsinfo, keys = read
                for step, key in zip(wcs.pipeline, keys):
                    if key is not None:  # one object per distinct transform across the workers
                        step.transform = shared.setdefault(key, step.transform)
                key = _file_key(path)
                if key is not None:
                    shared[key] = (wcs, wcsinfo)
                    done += 1
        for fut, receive in others:
            receive(fut.result())
    return done
