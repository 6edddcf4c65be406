"""The fit summary above the residual panels: the group's fit, its verdict, the image's numbers.

The label keeps the height of a typical fitted image's summary from the start: the first fit
shown (at a run's end, with the selected image's layers) grew it from one line, and every plot
below was laid out and painted again in that turn (~40 ms at a mosaic's size).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from astropy.table import Table
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from tweakgui.engine.fit.residual_frames import image_numbers
from tweakgui.engine.model import Correction, FitResult

__all__ = ["SummaryLabel", "summary_html", "verdict_text", "correction_text", "typical_summary"]


def _num(v, fmt: str, unit: str = "") -> str:
    """``v`` formatted, or an em dash where the engine gave nothing (None, NaN)."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "—"
    return format(v, fmt) + unit if np.isfinite(v) else "—"


def verdict_text(fit) -> str:
    """One fit's verdict: status, how the match stands above chance, counts, rmse."""
    parts = [f"<b>{fit.status}</b>" + (f" ({fit.reason})" if fit.reason else "")]
    if fit.matcher:
        parts.append(f"matcher {fit.matcher}")
    if fit.significance is not None and np.isfinite(fit.significance or np.nan):
        parts.append(f"significance {_num(fit.significance, '.1f')}σ")
    if fit.n_chance is not None and np.isfinite(fit.n_chance or np.nan):
        parts.append(f"{_num(fit.n_chance, '.1f')} chance matches within "
                     f"{_num(fit.match_radius_arcsec, '.3f', '″')}")
    parts.append(f"nmatch {fit.nmatch}" + (f", used {fit.nused}" if fit.nused else ""))
    parts.append(f"rmse {_num(fit.rmse_arcsec * 1000 if fit.rmse_arcsec is not None else None, '.2f')} mas")
    if fit.fitgeom:
        parts.append(fit.fitgeom)
    return " · ".join(parts)


def correction_text(corr) -> str:
    """An image's total correction with the frame of each number."""
    if corr is None:
        return "total correction: not given"
    (px, py), (se, sn), (dx, dy) = corr.ref_pixel, corr.shift_arcsec, corr.shift_pix
    return (f"<b>total correction</b> (all stages) at pixel ({_num(px, '.1f')}, {_num(py, '.1f')}): "
            f"shift ΔRA·cosδ {_num(se, '+.4f', '″')}, ΔDec {_num(sn, '+.4f', '″')} on the sky "
            f"= ({_num(dx, '+.2f')}, {_num(dy, '+.2f')}) detector px; rotation "
            f"{_num(corr.rotation_deg, '+.5f', '°')} (counter-clockwise, E toward N); scale {_num(corr.scale, '.7f')}")


def summary_html(fit, image, image_result=None, whole_group=False) -> str:
    """The group's fit with its verdict, then the image's own numbers and total correction."""
    n_img = len(fit.images or [])
    head = (f"<b>{fit.kind} fit of group {fit.group_id}</b>"
            + (f" ({n_img} images)" if n_img > 1 else "") + ": " + verdict_text(fit))
    lines = [head]
    if image is not None and fit.matches is not None:
        n = image_numbers(fit.matches, None if whole_group else image)
        who = "whole group" if whole_group else image
        lines.append(f"<b>{who}</b> in this fit: {n.nmatch} matches, {n.nused} used, {n.nclipped} clipped, "
                     f"{n.nexcluded} excluded; RMS dx {_num(n.rms_dx_mas, '.2f')}, "
                     f"dy {_num(n.rms_dy_mas, '.2f')} mas (reference tangent plane)")
    if image_result is not None and image_result.status != "REFERENCE":
        lines.append(correction_text(image_result.correction))
    return "<br>".join(lines)


def typical_summary() -> str:
    """The summary of a fitted mosaic image, with names and numbers of their usual widths."""
    group = "jw01345001001_02201_00001_nrca1"
    name = f"{group}_cal.fits"
    m = Table({"image": [name] * 3, "used": [True, True, False], "excluded": [False] * 3,
               "dx": [0.0123] * 3, "dy": [-0.0123] * 3})
    fit = FitResult(group_id=group, kind="absolute", status="SUCCESS", fitgeom="rshift",
                    nmatch=1234, nused=1200, rmse_arcsec=0.01234, matcher="2dhist", significance=12.3,
                    n_chance=1.23, match_radius_arcsec=0.123, images=[name] * 8, matches=m)
    corr = Correction(ref_pixel=(1023.5, 1023.5), ref_ra=0.0, ref_dec=0.0, shift_arcsec=(-0.0123, 0.0123),
                      shift_pix=(-0.39, 0.39), rotation_deg=-0.00123, scale=1.0000012)
    return summary_html(fit, name, SimpleNamespace(status="SUCCESS", correction=corr))


class SummaryLabel(QLabel):
    """A word-wrapped rich-text label at least as high as :func:`typical_summary` at its width,
    and one line more.

    Between changes of its width its height only grows: a summary of fewer lines than the last
    resized the plots below, and every axis was laid out and drawn again (a mosaic's images have
    summaries of different lengths).  The spare line is for the summaries a word longer than the
    typical one: each of them grew the label at its first selection, and the plots below were
    drawn again with the last image's points before the new ones (~25 ms at a mosaic's size).
    """

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(120)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setAlignment(Qt.AlignLeft | Qt.AlignTop)  # "No fit" at the top of the reserved space
        self._typical = QLabel(typical_summary())  # never shown: measures the reserved height
        self._typical.setWordWrap(True)

    def set_summary(self, text: str) -> None:
        self.setText(text)
        need = self.heightForWidth(max(self.width(), 1))
        if need > self.minimumHeight():
            self.setMinimumHeight(need)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if ev.size().width() != ev.oldSize().width():
            width = max(ev.size().width(), 1)
            self._typical.setFont(self.font())
            reserve = self._typical.heightForWidth(width) + self.fontMetrics().lineSpacing()
            self.setMinimumHeight(max(reserve, self.heightForWidth(width)))
