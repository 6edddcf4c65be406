"""Regenerate the README screenshots from the real application.

``QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python -m tweakgui.gui.docshots docs/screenshots``
aligns the demo visit and writes ``main-window.png`` (residual panels, matches),
``vectors-and-footprints.png`` (vector plot, visit footprints) and
``histogram-regions-log.png`` (2D offset histogram, regions drawn on the image, fit log),
``diagnostics.png`` (an image's residuals against its sources' magnitude, sharpness,
roundness) and ``systematics.png`` (the visit's residuals binned on the detector).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(outdir: str) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from tweakgui.gui.app import ensure_gc

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ensure_gc(app)
    win, inputs = _window()
    state = {"code": 1}

    def settle():
        # timers too: residual rows and hidden tabs are drawn in later turns, and the reference
        # layer waits for its chip to stand (reference_layer.SETTLE_MS)
        import time

        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        win.image_view.loader.wait(10000)
        app.processEvents()

    def shots():
        for shot in (_main_window, _histogram_regions_log, _vectors_and_footprints, _diagnostics):
            shot(win, out, settle)
        state["code"] = 0
        win.close()
        app.quit()

    def done(kind, ok):
        if kind == "load" and ok:
            win.ctl.run()
        elif kind == "run" and ok:
            QTimer.singleShot(500, shots)
        elif not ok:
            app.quit()

    win.ctl.jobDone.connect(done)
    win.ctl.set_inputs(inputs)
    app.exec()
    _shrink(out)
    return state["code"]


def _window():
    """The main window on the demo visit, 1600×960, the footprints docked at the bottom and hidden."""
    import tempfile

    import pyqtgraph as pg
    from PySide6.QtCore import QSettings, Qt

    from tweakgui.engine.params import TweakRegParams
    from tweakgui.gui.app import demo_inputs
    from tweakgui.gui.main_window import MainWindow

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    inputs, over = demo_inputs()
    settings = QSettings(str(Path(tempfile.mkdtemp(prefix="tweakgui-docshots-")) / "s.ini"),
                         QSettings.IniFormat)
    win = MainWindow(settings, params=TweakRegParams(**over))
    win.resize(1600, 960)
    # for the vectors picture the footprints sit beside the matches (hidden until then)
    win.removeDockWidget(win.docks["visit"])
    win.addDockWidget(Qt.BottomDockWidgetArea, win.docks["visit"], Qt.Horizontal)
    win.docks["visit"].hide()
    win.show()
    return win, inputs


def _successes(win):
    return [r for r in win.ctl.result.images if r.status == "SUCCESS"]


def _main_window(win, out, settle):
    ctl = win.ctl
    ctl.select_image(_successes(win)[0].exposure.name)
    keys = win.residuals.keys
    ctl.select_match(keys[len(keys) // 3])
    settle()
    win.grab_to(out / "main-window.png")


def _histogram_regions_log(win, out, settle):
    """The 2D histogram of a relative fit, regions on the image, the fit log."""
    from PySide6.QtCore import Qt

    win.resizeDocks([win.docks["log"]], [200], Qt.Vertical)
    win.residuals.fit_choice.setCurrentText("relative")
    win.ctl.select_image(_successes(win)[1].exposure.name)
    win.residuals.tabs.setCurrentIndex(2)
    win.docks["log"].raise_()
    win.image_view.regions.add("circle", (300, 700), 160, include=False)
    win.image_view.regions.add("polygon", (700, 300), 260, include=True)
    settle()
    win.grab_to(out / "histogram-regions-log.png")
    win.image_view.regions.clear()


def _vectors_and_footprints(win, out, settle):
    """The vector plot, and the footprints docked beside the matches."""
    from PySide6.QtCore import Qt

    win.residuals.tabs.setCurrentIndex(1)
    win.ctl.select_image(_successes(win)[0].exposure.name)
    win.residuals.fit_choice.setCurrentText("last")
    win.ctl.select_match(win.residuals.keys[len(win.residuals.keys) // 3])
    win.docks["matches"].raise_()
    win.docks["visit"].show()
    win.resizeDocks([win.docks["matches"], win.docks["visit"]], [900, 700], Qt.Horizontal)
    win.resizeDocks([win.docks["matches"]], [300], Qt.Vertical)
    win.visit_view.exaggerate.setCurrentText("×10")
    settle()
    win.grab_to(out / "vectors-and-footprints.png")


def _diagnostics(win, out, settle):
    """An image's residuals against its sources' quantities; the visit's systematics."""
    win.docks["visit"].hide()
    win.residuals.tabs.setCurrentWidget(win.diagnostics)
    settle()
    win.grab_to(out / "diagnostics.png")
    win.residuals.tabs.setCurrentWidget(win.systematics)
    settle()
    win.grab_to(out / "systematics.png")


def _shrink(out: Path) -> None:
    """Quantize the PNGs to 256 colours (a third of the size) when Pillow is available."""
    try:
        from PIL import Image

    except ImportError:
        return
    for p in out.glob("*.png"):
        im = Image.open(p).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                    dither=Image.Dither.NONE)
        im.save(p, optimize=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
