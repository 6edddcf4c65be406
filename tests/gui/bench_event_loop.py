"""Benchmark: the worst event-loop gap of the main window while a visit aligns.

Run on demand (not collected by pytest)::

    QT_QPA_PLATFORM=offscreen python tests/gui/bench_event_loop.py --images 24 --size 1024

A QTimer ticks every 10 ms in the GUI thread from just before the run starts
until its result has been shown; the report gives the worst and the 99th
percentile interval between ticks, and the GUI-thread time spent showing the
result.
"""

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.synthetic import make_demo_visit
    from tweakgui.gui.app import ensure_gc
    from tweakgui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    ensure_gc(app)
    d = Path(tempfile.mkdtemp(prefix="tweakgui-bench-"))
    demo = make_demo_visit(d, n_images=args.images, shape=(args.size, args.size), seed=args.seed)
    win = MainWindow(QSettings(str(d / "s.ini"), QSettings.IniFormat),
                     params=TweakRegParams(abs_refcat=str(demo.refcat)))
    win.resize(1600, 960)
    win.show()
    clock = QElapsedTimer()
    ticks = []
    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(lambda: ticks.append(clock.elapsed()))
    shown = {}
    ran = win.ctl._ran

    def timed_ran(result):
        t = clock.elapsed()
        ran(result)
        shown["ms"] = clock.elapsed() - t

    win.ctl._ran = timed_ran

    def start():
        clock.start()
        ticks.append(0)
        probe.start()
        win.ctl.run()

    def done(kind, ok):
        if kind == "load":
            QTimer.singleShot(500, start)  # the loaded image paints first
        else:
            QTimer.singleShot(0, finish)  # one more tick after the result is shown
            shown["ok"] = ok

    def finish():
        ticks.append(clock.elapsed())
        probe.stop()
        app.quit()

    win.ctl.jobDone.connect(done)
    win.ctl.set_inputs([str(p) for p in demo.paths])
    app.exec()
    gaps = np.diff(ticks)
    n_ok = sum(r.status != "FAILED" for r in win.ctl.result.images) if win.ctl.result else 0
    print(f"{args.images} images of {args.size}x{args.size}: run {'ok' if shown.get('ok') else 'FAILED'}, "
          f"{n_ok} aligned, {ticks[-1] / 1000:.1f} s")
    print(f"event-loop gap: worst {gaps.max():.0f} ms, 99th percentile {np.percentile(gaps, 99):.0f} ms, "
          f"median {np.median(gaps):.0f} ms over {len(gaps)} ticks; showing the result took "
          f"{shown.get('ms', float('nan')):.0f} ms")
    win.close()
    return 0 if shown.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
