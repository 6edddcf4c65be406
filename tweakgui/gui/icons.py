"""Action icons: SVGs in ``resources/icons/actions`` (sharp at any DPI)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

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


# Qt's own icons stand in when the SVGs are not installed (e.g. a wheel without resources/)
_STANDARD = {"open": "SP_DialogOpenButton", "save": "SP_DialogSaveButton", "add": "SP_FileIcon",
             "remove": "SP_TrashIcon", "up": "SP_ArrowUp", "down": "SP_ArrowDown",
             "run": "SP_MediaPlay", "refit": "SP_BrowserReload", "cancel": "SP_MediaStop",
             "clear": "SP_DialogResetButton", "status-ok": "SP_DialogApplyButton",
             "status-failed": "SP_MessageBoxCritical", "session": "SP_DirOpenIcon"}


def icon(name: str) -> QIcon:
    """The icon ``name``: our SVG, else a standard Qt icon, else an empty icon."""
    p = _path(name)
    if p:
        return QIcon(p)
    std = _STANDARD.get(name)
    app = QApplication.instance()
    if std is not None and app is not None:
        return app.style().standardIcon(getattr(QStyle.StandardPixmap, std))
    return QIcon.fromTheme(name)
