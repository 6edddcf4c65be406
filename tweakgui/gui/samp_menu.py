"""File ▸ Send via SAMP: the selected image and its sources to DS9, TOPCAT or Aladin."""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction

from tweakgui.engine.outputs.samp import SampError, SampSender

__all__ = ["SampMenu"]

log = logging.getLogger(__name__)


class SampMenu:
    """A submenu whose actions send through one lazily connected :class:`SampSender`.

    The hub is found as SAMP clients do ($SAMP_HUB, else ~/.samp); every
    failure (no hub, nobody listening, no result yet) is shown with its reason.
    """

    def __init__(self, win, menu):
        self.win = win
        self.sender: SampSender | None = None
        sub = menu.addMenu("Send via SA&MP")
        sub.setToolTipsVisible(True)
        self.actions = {}
        for key, text, slot, tip in (
            ("image", "Selected &Image", self.send_image, "Send the selected image (FITS) to DS9 or Aladin"),
            ("detected", "&Detected Sources", lambda: self.send_sources("detected"),
             "Send the selected image's detected sources (VOTable) to TOPCAT, DS9 or Aladin"),
            ("matched", "&Matched Sources", lambda: self.send_sources("matched"),
             "Send the selected image's matched sources with residuals (VOTable)"),
        ):
            a = QAction(text, win)
            a.setToolTip(tip)
            a.setObjectName(f"samp_{key}")
            a.triggered.connect(lambda _checked=False, s=slot: s())
            sub.addAction(a)
            self.actions[key] = a
        win.destroyed.connect(self.close)

    def _connected(self) -> SampSender:
        if self.sender is None or not self.sender.is_connected:
            self.sender = SampSender(name="tweakgui")
            self.sender.connect(None)
        return self.sender

    def _report(self, what: str, ids: list[str]) -> None:
        self.win.show_status(f"Sent {what} to {len(ids)} SAMP client(s)")
        log.info("sent %s through SAMP to %s", what, ", ".join(ids))

    def send_image(self) -> None:
        ctl = self.win.ctl
        exp = ctl.exposure(ctl.selected)
        if exp is None:
            self.win.show_error("SAMP", "Select an image first.")
            return
        if not exp.has_pixels:
            self.win.show_error("SAMP", f"{exp.name} is a catalog input: it has no image to send "
                                        "(send its sources instead).")
            return
        try:
            self._report(exp.name, self._connected().send_image(exp.path, name=exp.name))
        except SampError as exc:
            self.win.show_error("SAMP", str(exc))

    def send_sources(self, which: str) -> None:
        ctl = self.win.ctl
        r = ctl.image_result(ctl.selected)
        if r is None:
            self.win.show_error("SAMP", "Align the visit first: there are no sources to send.")
            return
        try:
            self._report(f"{which} sources of {r.exposure.name}", self._connected().send_sources(r, which))
        except (SampError, ValueError) as exc:
            self.win.show_error("SAMP", str(exc))

    def close(self, *_args) -> None:
        if self.sender is not None:
            self.sender.close()
            self.sender = None
