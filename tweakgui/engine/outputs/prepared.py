"""The WCS files of many images made in worker processes and written by the saving process.

Each ``<root>_tweakreg.asdf`` costs CPU to make: the SIP approximation of
the new WCS (~12 ms reusing its detector's polynomials, ~80 ms fitted by
gwcs, when ``sip_approx`` is on) and asdf's serialisation (~70 ms, two
thirds of it validating the tree against its schemas; ~20 ms unvalidated).
For a mosaic of hundreds of images they are made in ``jobs`` processes, in
batches of one detector's files (the GWCS of one batch share their distortion
transforms, pickled once), and come back as bytes with the refreshed
``wcsinfo``; the saving process writes the bytes in its transaction like
any other file, so a save is still all or nothing.

asdf validates every tree it writes, parsing its schemas' YAML again for
each file.  The worker processes validate a tree only when its *shape* is
new to them: the written YAML with its floating-point literals masked (tags,
keys, strings, integers such as array shapes and dtypes stay).  Trees of one
shape differ only in numbers no schema of theirs constrains; a CEERS
mosaic's trees all have one shape, so each process validates one tree
instead of hundreds.
Unvalidated, asdf keeps the tree's own key order instead of the schemas'
``propertyOrder``; ASDF mappings are unordered, so readers see the same tree.

A detector's distortion, shared by its files, is serialised once per process
and its YAML and blocks reused (:mod:`tweakgui.engine.outputs.asdf_splice`).
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager

from tweakgui.engine.io.shared_transforms import load_asdf_extensions
from tweakgui.engine.outputs.asdf_splice import distortion_of, write_sharing_distortion
from tweakgui.engine.outputs.jwst import remember_wcsinfo, sip_wcsinfo, wcs_file_bytes
from tweakgui.engine.processes import (
    batches,
    die_with_parent,
    inherited,
    inherited_value,
    pickled_in_turns,
    pool_context,
    unpickled_in_turns,
)

__all__ = ["prepare_wcs_files", "MIN_FILES"]

log = logging.getLogger(__name__)

MIN_FILES = 32  # below this, starting processes costs more than it saves


# a YAML float (not inside a word or a longer number): 1.5, -2.e-3, 4e+07, .nan, -.inf
_FLOAT = re.compile(rb"(?<![\w.])[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+"
                    rb"|\.nan|\.inf)(?![\w.])")
_validated_shapes: set[bytes] = set()  # per worker process


# quoted strings, flow brackets and line breaks of an ASDF file's YAML
_TOKEN = re.compile(rb"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|[\[\]{}]|[ ]*\n[ ]*")


def _unwrapped(yaml: bytes) -> bytes:
    """``yaml`` with the line breaks inside flow collections made single spaces.

    Flow collections wrap where their literals' widths say; block structure
    is left alone.  Unbalanced brackets give ``yaml`` back as it is.
    """
    parts, depth, last = [], 0, 0
    for m in _TOKEN.finditer(yaml):
        c = yaml[m.start():m.start() + 1]
        if c in b"[{":
            depth += 1
        elif c in b"]}":
            depth -= 1
            if depth < 0:
                return yaml
        elif c in b" \n" and depth:
            parts += [yaml[last:m.start()], b" "]
            last = m.end()
    return yaml if depth else b"".join(parts) + yaml[last:]


def tree_shape(content: bytes) -> bytes:
    """An ASDF file's YAML with its floating-point literals masked: what schemas can tell apart."""
    end = content.find(b"\n...\n")
    return _unwrapped(_FLOAT.sub(b"#", content if end < 0 else content[:end]))


@contextmanager
def _unvalidated_writes():
    """asdf writes without validating, or validating as usual when its writer has changed shape.

    Only for single-threaded worker processes: it swaps the schema module
    that ``asdf.yamlutil.dump_tree`` validates with.
    """
    from asdf import yamlutil

    schema = getattr(yamlutil, "schema", None)
    if not callable(getattr(schema, "validate", None)):
        yield False
        return

    class _NoValidation:
        def __getattr__(self, name):
            return getattr(schema, name)

        @staticmethod
        def validate(*args, **kwargs):
            return None

    yamlutil.schema = _NoValidation()
    try:
        yield True
    finally:
        yamlutil.schema = schema


def wcs_file_bytes_validated_once(root: str, wcs, wcsinfo: dict) -> bytes:
    """:func:`wcs_file_bytes`, asdf's validation run only for a tree shape this process has not validated."""
    with _unvalidated_writes() as skipped:
        content = write_sharing_distortion(wcs, lambda: wcs_file_bytes(root, wcs, wcsinfo))
    if not skipped:
        return content
    shape = tree_shape(content.replace(root.encode(), b"@"))  # the file's own name aside
    if shape not in _validated_shapes:
        wcs_file_bytes(root, wcs, wcsinfo)  # asdf's validating write: raises on a tree its schemas refuse
        _validated_shapes.add(shape)
    return content


def _batch(parts, params) -> list[tuple[bytes, dict]]:
    out = []
    for root, wcs, wcsinfo in parts:
        info = sip_wcsinfo(wcs, wcsinfo, params)
        out.append((wcs_file_bytes_validated_once(root, wcs, info), info))
    return out


def _batch_inherited(key, idx, params) -> list[tuple[bytes, dict]]:
    parts = inherited_value(key)
    return _batch([parts[i] for i in idx], params)


def _batch_pickled(data: bytes, params) -> list[tuple[bytes, dict]]:
    return _batch(unpickled_in_turns(data), params)


def prepare_wcs_files(parts: list[tuple], params, jobs: int) -> list[bytes] | None:
    """The bytes of each ``(root, wcs, wcsinfo)``'s WCS file, made in ``jobs`` processes.

    None when processes are not worth it (``jobs`` < 2, fewer than
    :data:`MIN_FILES` files): the caller makes them itself.
    """
    from concurrent.futures import ProcessPoolExecutor

    if jobs < 2 or len(parts) < MIN_FILES:
        return None
    load_asdf_extensions()  # once here rather than in each forked writer
    # one detector's files together: a batch pickles fewer distortions, and a detector's SIP
    # template (a full fit, ~150 ms) is made by one process instead of each
    order = sorted(range(len(parts)), key=lambda i: _distortion_order(parts[i][1]))
    log.info("making %d WCS files in %d processes", len(parts), jobs)
    out: list[bytes | None] = [None] * len(parts)
    ctx = pool_context()
    with inherited(parts, ctx) as key, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=die_with_parent,
                                initargs=(os.getpid(),)) as pool:
        # forked writers find the parts in their memory; others get them pickled, one at a time
        futures = [(idx, pool.submit(_batch_inherited, key, idx, params) if key is not None
                    else pool.submit(_batch_pickled, pickled_in_turns(parts[i] for i in idx), params))
                   for idx in batches(order, 4 * jobs)]
        for idx, fut in futures:
            for i, (content, info) in zip(idx, fut.result()):
                remember_wcsinfo(parts[i][1], params, info)  # an image written too need not refit it
                out[i] = content
    return out


def _distortion_order(wcs) -> tuple:
    """Sort key putting the GWCS that share their first step (a detector's distortion) together."""
    first = distortion_of(wcs)
    return (0, id(first)) if first is not None else (1, 0)
