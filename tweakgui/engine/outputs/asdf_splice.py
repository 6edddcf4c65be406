"""ASDF files of one detector: its distortion serialised once per process, not once per file.

A JWST GWCS's first step holds the detector's distortion, one transform
object shared by every image of that detector in a mosaic.  In a WCS file
it is ~70 % of the serialisation's CPU and most of the YAML and binary
blocks, identical from one file to the next.  Here each file after a
detector's first is written by asdf with a one-line placeholder in the
distortion's place; the distortion's YAML and blocks, taken from the first
file, replace it.  Being first in the document, the distortion numbers
its YAML anchors and blocks first: the rest's are shifted by as many.

A detector's first file is written both ways in each process and the two
must be byte for byte the same; otherwise that detector's files are all
written by asdf in full.  So the bytes are asdf's, or asdf is used.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

from astropy.modeling import models

from tweakgui.engine.io import asdf_text as at

__all__ = ["write_sharing_distortion", "distortion_of", "splice_stats"]

_PLACEHOLDER = "tweakgui-distortion-placeholder"
# per process: distortion → its serialised parts, or None when splicing did not reproduce asdf's bytes
_parts: dict[int, tuple[weakref.ref, "_Distortion | None"]] = {}
splice_stats = {"spliced": 0, "whole": 0, "refused": 0}


@dataclass(frozen=True)
class _Distortion:
    yaml: list[bytes]  # the node's lines, its key line first
    anchors: int
    blocks: list[bytes]


def _placeholder_key(lines: list[bytes]) -> int | None:
    name = next((i for i, ln in enumerate(lines) if ln.strip() == b"name: " + _PLACEHOLDER.encode()), None)
    if name is None:
        return None
    key = name - 1
    while key >= 0 and not (at.indent(lines[key]) < at.indent(lines[name])
                            and lines[key].lstrip().startswith(b"transform:")):
        key -= 1
    return key if key >= 0 else None


def _shifted(lines: list[bytes], anchors: int, blocks: int) -> list[bytes]:
    text = b"".join(lines)
    text = at.ANCHOR.sub(lambda m: m[1] + b"id%03d" % (int(m[2]) + anchors), text)
    text = at.SOURCE.sub(lambda m: m[1] + b"%d" % (int(m[2]) + blocks), text)
    return text.splitlines(keepends=True)


def _joined(lines: list[bytes], blocks: list[bytes]) -> bytes:
    out = [b"".join(lines)]
    offsets, pos = [], len(out[0])
    for b in blocks:
        offsets.append(pos)
        pos += len(b)
    out += blocks
    if blocks:
        out.append(at.INDEX + b"\n%YAML 1.1\n---\n" + b"".join(b"- %d\n" % o for o in offsets) + b"...\n")
    return b"".join(out)


def _spliced(placeholder: at.AsdfBytes, distortion: _Distortion) -> bytes | None:
    key = _placeholder_key(placeholder.lines)
    if key is None:
        return None
    head, tail = placeholder.lines[:key], placeholder.lines[at.node_end(placeholder.lines, key):]
    if any(at.ANCHOR.search(ln) or at.SOURCE.search(ln) for ln in head):
        return None  # anchors or blocks before the distortion: its numbers would not be the first
    # the distortion's key line keeps the placeholder's key and indentation: the same in both
    return _joined(head + distortion.yaml + _shifted(tail, distortion.anchors, len(distortion.blocks)),
                   distortion.blocks + placeholder.blocks)


def _learned(whole: at.AsdfBytes, placeholder: at.AsdfBytes) -> _Distortion | None:
    key = _placeholder_key(placeholder.lines)
    if key is None or whole.lines[:key] != placeholder.lines[:key]:
        return None
    node = whole.lines[key:at.node_end(whole.lines, key)]
    text = b"".join(node)
    sources = sorted(int(m[2]) for m in at.SOURCE.finditer(text))
    if sources != list(range(len(sources))):
        return None
    anchors = {int(m[2]) for m in at.ANCHOR.finditer(text)}
    if anchors != set(range(1, len(anchors) + 1)):
        return None
    return _Distortion(node, len(anchors), whole.blocks[:len(sources)])


def _with_placeholder(wcs, write: Callable[[], bytes]) -> bytes:
    step = wcs.pipeline[0]
    real = step.transform
    stand_in = models.Identity(real.n_inputs, name=_PLACEHOLDER)
    step._transform = stand_in  # the setter checks nothing more; put back below
    try:
        return write()
    finally:
        step._transform = real


def distortion_of(wcs):
    """A GWCS's first step's transform (a detector's distortion, shared by its GWCS), or None."""
    pipeline = getattr(wcs, "pipeline", None)
    return pipeline[0].transform if pipeline and pipeline[0].transform is not None else None


def write_sharing_distortion(wcs, write: Callable[[], bytes]) -> bytes:
    """``write()``'s bytes (an ASDF file holding ``wcs``), its distortion's serialisation reused.

    For single-threaded worker processes: ``wcs``'s first step holds a
    placeholder while ``write`` runs.
    """
    first = distortion_of(wcs)
    if first is None:
        return write()
    ref, known = _parts.get(id(first), (None, None))
    if ref is not None and ref() is first:
        if known is None:
            splice_stats["whole"] += 1
            return write()
        content = _spliced(at.split(_with_placeholder(wcs, write)), known)
        if content is not None:
            splice_stats["spliced"] += 1
            return content
        splice_stats["whole"] += 1
        return write()
    whole = write()
    placeholder = at.split(_with_placeholder(wcs, write))
    learned = _learned(at.split(whole), placeholder)
    if learned is not None and _spliced(placeholder, learned) != whole:
        learned = None
    if learned is None:
        splice_stats["refused"] += 1
    _parts[id(first)] = (weakref.ref(first, lambda _r, k=id(first): _parts.pop(k, None)), learned)
    return whole
