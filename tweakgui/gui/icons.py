"""Action icons: SVGs in ``resources/icons/actions`` (sharp at any DPI)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

__all__ = ["icon", "icon_dirs"]


def icon_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [here.parents[1] / "resources" / "icons" / "actions",  # installed package data
            here.parents[2] / "resources" / "icons" / "actions"]  # source tree


@lru_cache(maxsize=None)
def _path(name: str) -> str | None:
    for d in icon_dirs():
        p = d / f"{name}.svg"
        if p.is_file():
            return str(p)
    return None


def icon(name: str) -> QIcon:
    """The icon ``name`` (an empty icon when the file is missing)."""
    p = _path(name)
    return QIcon(p) if p else QIcon.fromTheme(name)
