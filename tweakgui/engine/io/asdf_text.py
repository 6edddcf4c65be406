"""An ASDF file as bytes: its YAML lines, a node's lines, its binary blocks.

What reading and writing many GWCS files of one detector use to reuse the
detector's distortion, which is the same text and the same blocks in each.
Only for the block-style YAML that asdf writes; callers check what they
get (and fall back to asdf) rather than trust these on other files.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["AsdfBytes", "split", "indent", "node_end", "ANCHOR", "SOURCE", "first_transform"]

ANCHOR = re.compile(rb"(?<=[ \[])([&*])id(\d{3,})(?=[\s,\]])")  # YAML anchors and aliases as pyyaml names them
SOURCE = re.compile(rb"^([ ]*source: )(\d+)$", re.M)  # an array's block number
END = b"\n...\n"
INDEX = b"#ASDF BLOCK INDEX"
BLOCK = b"\xd3BLK"


@dataclass(frozen=True)
class AsdfBytes:
    lines: list[bytes]  # the YAML document's lines, up to and with the end marker
    blocks: list[bytes]  # each binary block, header and all


def split(content: bytes) -> AsdfBytes:
    """An ASDF file's YAML lines and binary blocks; ValueError when it is not laid out so."""
    end = content.index(END) + len(END)
    blocks, pos = [], end
    while content.startswith(BLOCK, pos):
        header = struct.unpack(">H", content[pos + 4:pos + 6])[0]
        allocated = struct.unpack(">Q", content[pos + 14:pos + 22])[0]
        size = 6 + header + allocated
        blocks.append(content[pos:pos + size])
        pos += size
    if pos < len(content) and not content.startswith(INDEX, pos):
        raise ValueError("an ASDF file with something else than blocks and their index after its tree")
    return AsdfBytes(content[:end].splitlines(keepends=True), blocks)


def indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" "))


def node_end(lines: list[bytes], key: int) -> int:
    """The end of the node whose key line is ``lines[key]``: the lines indented deeper follow it."""
    depth, end = indent(lines[key]), key + 1
    while end < len(lines) and indent(lines[end]) > depth and lines[end] != END[1:]:
        end += 1
    return end


def first_transform(lines: list[bytes]) -> tuple[int, int] | None:
    """``(start, end)`` lines of the first ``transform:`` node after ``steps:`` (a GWCS's first step's)."""
    steps = next((i for i, ln in enumerate(lines) if ln.strip() == b"steps:"), None)
    if steps is None:
        return None
    key = next((i for i in range(steps + 1, len(lines)) if lines[i].lstrip().startswith(b"transform:")), None)
    return None if key is None else (key, node_end(lines, key))
