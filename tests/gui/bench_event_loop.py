"""Benchmark: the worst event-loop gap of the main window while a visit loads, aligns and is inspected.

Run on demand (not collected by pytest)::

    QT_QPA_PLATFORM=offscreen python tests/gui/bench_event_loop.py --images 24 --size 1024
    QT_QPA_PLATFORM=offscreen python tests/gui/bench_event_loop.py --inputs mosaic_asn.json \
        --refcat hst.ecsv --set use_custom_catalogs=true

A QTimer ticks every 10 ms in the GUI thread from before the inputs are given
(files table, footprints) through the run and the showing of its result to the
selection of images one after another (one every
``SELECT_EVERY_MS``, as a quick user clicks: back to back, the probe's timer waited behind
the chain of selections and the gap measured their sum), and then while the visit footprints
(tabified behind the residuals) are raised and drawn; the report gives the worst and the 99th
percentile interval between ticks in each phase, and the GUI-thread time spent
showing the result.  ``--inputs`` takes any input spec (an ASN, an @list, files);
without it a synthetic visit of ``--images`` frames is written.
"""

import argparse
import sys
import tempfile
from pathlib import Path

SELECT_EVERY_MS = 100


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--inputs", nargs="*", help="input specs instead of a synthetic visit")
    ap.add_argument("--refcat", help="abs_refcat for --inputs")
    ap.add_argument("--set", nargs="*", default=[], help="parameters NAME=VALUE")
    ap.add_argument("--select", type=int, default=10, help="images selected one after another at the end")
    args = ap.parse_args(argv)

    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from tweakgui.engine.params.spec import TweakRegParams, coerce
    from tweakgui.engine.synthetic import make_demo_visit
    from tweakgui.gui.app import ensure_gc
    from tweakgui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    ensure_gc(app)
    d = Path(tempfile.mkdtemp(prefix="tweakgui-bench-"))
    if args.inputs:
        inputs, refcat = args.inputs, args.refcat or ""
    else:
        demo = make_demo_visit(d, n_images=args.images, shape=(args.size, args.size), seed=args.seed)
        inputs, refcat = [str(p) for p in demo.paths], str(demo.refcat)
    over = dict(kv.split("=", 1) for kv in args.set)
    params = TweakRegParams(abs_refcat=refcat).replace(**{k: coerce(k, v) for k, v in over.items()})
    win = MainWindow(QSettings(str(d / "s.ini"), QSettings.IniFormat), params=params)
    win.resize(1600, 960)
    win.show()
    clock = QElapsedTimer()
    ticks, phases = [], {}
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

    def mark(name):
        phases[name] = len(ticks)
        ticks.append(clock.elapsed())

    def done(kind, ok):
        if kind == "load":
            mark("run")
            win.ctl.run()
        else:
            shown["ok"] = ok
            mark("select")
            QTimer.singleShot(0, lambda: select(0))

    names = []

    def select(i):
        names[:] = names or [r.exposure.name for r in (win.ctl.result.images if win.ctl.result else [])]
        if i < min(args.select, len(names)):
            win.ctl.select_image(names[i * max(1, len(names) // max(args.select, 1)) % len(names)])
            QTimer.singleShot(SELECT_EVERY_MS, lambda: select(i + 1))
        else:
            mark("footprints")
            win.docks["visit"].raise_()
            QTimer.singleShot(1000, finish)

    def finish():
        ticks.append(clock.elapsed())
        probe.stop()
        app.quit()

    def start():
        clock.start()
        probe.start()
        mark("load")
        win.ctl.set_inputs(inputs)

    win.ctl.jobDone.connect(done)
    QTimer.singleShot(200, start)
    app.exec()
    return _report(args, win, np.asarray(ticks, float), phases, shown, len(inputs) if args.inputs else args.images)


def _report(args, win, ticks, phases, shown, n) -> int:
    import numpy as np

    gaps = np.diff(ticks)
    n_ok = sum(r.status != "FAILED" for r in win.ctl.result.images) if win.ctl.result else 0
    n_images = len(win.ctl.visit.exposures) if getattr(win.ctl, "visit", None) is not None else n
    what = f"{n_images} images" if args.inputs else f"{args.images} images of {args.size}x{args.size}"
    run_s = (ticks[phases["select"]] - ticks[phases["run"]]) / 1000 if "select" in phases else float("nan")
    print(f"{what}: run {'ok' if shown.get('ok') else 'FAILED'}, {n_ok} aligned, {run_s:.1f} s")
    print(f"event-loop gap: worst {gaps.max():.0f} ms, 99th percentile {np.percentile(gaps, 99):.0f} ms, "
          f"median {np.median(gaps):.0f} ms over {len(gaps)} ticks; showing the result took "
          f"{shown.get('ms', float('nan')):.0f} ms")
    for title, message in getattr(win, "errors", []):
        print(f"error shown: {title}: {message}")
    bounds = sorted(phases.items(), key=lambda kv: kv[1]) + [("end", len(ticks) - 1)]
    for (name, a), (_, b) in zip(bounds[:-1], bounds[1:]):
        g = np.diff(ticks[a:b + 1])
        if len(g):
            print(f"phase {name}: worst gap {g.max():.0f} ms over {(ticks[b] - ticks[a]) / 1000:.1f} s")
    win.close()
    return 0 if shown.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
