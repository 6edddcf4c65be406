"""The layout the dock panels share: a bar of controls above the panel's main widget."""

from __future__ import annotations

from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget

__all__ = ["bar_above"]


def bar_above(panel: QWidget, bar: QLayout, body: QWidget) -> QVBoxLayout:
    """Lay out ``panel`` as ``bar`` over ``body`` (which takes the free height), with narrow margins."""
    lay = QVBoxLayout(panel)
    lay.setContentsMargins(2, 2, 2, 2)
    lay.addLayout(bar)
    lay.addWidget(body, 1)
    return lay
