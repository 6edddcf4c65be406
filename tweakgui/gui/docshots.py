"""Regenerate the README screenshots from the real application.

``QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" python -m tweakgui.gui.docshots docs/screenshots``
aligns the demo visit and writes ``main-window.png`` (residual panels),
``vectors-and-log.png`` (vector plot, fit log), ``histogram-and-regions.png``
(2D offset histogram, regions drawn on the image) and ``footprints.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(outdir: str) -> int:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg

    from tweakgui.engine.params import TweakRegParams
    from tweakgui.gui.app import demo_inputs
    from tweakgui.gui.main_window import MainWindow

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    inputs, over = demo_inputs()
    settings = QSettings(str(out / ".docshots.ini"), QSettings.IniFormat)
    win = MainWindow(settings, params=TweakRegParams(**over))
    win.resize(1600, 960)
    win.show()
    state = {"code": 1}

    def shots():
        ctl = win.ctl
        first = next(r for r in ctl.result.images if r.status == "SUCCESS")
        ctl.select_image(first.exposure.name)
        keys = win.residuals.keys
        ctl.select_match(keys[len(keys) // 3])
        app.processEvents()
        win.grab_to(out / "main-window.png")
        win.residuals.tabs.setCurrentIndex(1)
        win.docks["log"].raise_()
        app.processEvents()
        win.grab_to(out / "vectors-and-log.png")
        second = [r for r in ctl.result.images if r.status == "SUCCESS"][1]
        win.residuals.fit_choice.setCurrentText("relative")
        ctl.select_image(second.exposure.name)
        win.residuals.tabs.setCurrentIndex(2)
        win.docks["matches"].raise_()
        win.image_view.regions.add("circle", (300, 700), 160, include=False)
        win.image_view.regions.add("polygon", (700, 300), 260, include=True)
        app.processEvents()
        win.grab_to(out / "histogram-and-regions.png")
        win.docks["visit"].raise_()
        win.visit_view.exaggerate.setCurrentText("×10")
        app.processEvents()
        win.grab_to(out / "footprints.png")
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
    (out / ".docshots.ini").unlink(missing_ok=True)
    return state["code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
