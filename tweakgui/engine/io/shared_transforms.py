"""Many GWCS files read with each distinct transform built once and shared between them.

The detector → V2/V3 step of a NIRCam GWCS (its distortion: 14 models and
their inverses) is the same in every file of one detector and filter, and
building its astropy models is half the cost of reading the file (22 of
45 ms).  :func:`read_gwcs_tree` converts a step's transform only the first
time its content (the YAML nodes and the array data) is seen in a reading
session, a ``dict`` the caller keeps for the files of one visit, and hands
out the same model after that; everything else is converted by asdf as
usual, so the GWCS are those asdf would give.  Shared transforms are never
changed in place by tweakgui (a corrected GWCS is a new one around them:
:mod:`tweakgui.engine.fit.corrector`), and they are pickled once per batch
sent to another process.
"""

from __future__ import annotations

import hashlib

import asdf
import numpy as np
from asdf.tagged import Tagged
from asdf.yamlutil import tagged_tree_to_custom_tree

__all__ = ["read_gwcs_tree"]

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


def read_gwcs_tree(path, shared: dict):
    """``(wcs, wcsinfo)`` of a GWCS file, its step transforms taken from or added to ``shared``.

    Returns None where the file's tree does not have the expected layout (a
    ``wcs`` node with ``steps``) or asdf cannot give its tagged tree; the
    caller then reads the file the usual way.  Errors of a bad file propagate.
    """
    with asdf.open(path, lazy_tree=True, lazy_load=False, memmap=False) as af:
        raw = _tagged_root(af)
        node = None if raw is None else raw.get("wcs")
        steps = node.get("steps") if isinstance(node, dict) else None
        if not isinstance(steps, list):
            return None
        for step in steps:
            t = step.get("transform") if isinstance(step, dict) else None
            if not isinstance(t, Tagged):
                continue
            h = hashlib.sha1(usedforsecurity=False)
            _digest(t, af, h)
            key = h.hexdigest()
            if key not in shared:
                shared[key] = tagged_tree_to_custom_tree(t, af)
            step["transform"] = shared[key]
        wcs = tagged_tree_to_custom_tree(node, af)
        info = raw.get("wcsinfo")
        wcsinfo = dict(tagged_tree_to_custom_tree(info, af)) if info is not None else {}
    return wcs, wcsinfo
