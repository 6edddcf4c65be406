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
import os
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
    ap.add_argument("--watchdog", type=float, default=0, metavar="MS",
                    help="sample every thread's stack while the probe is later than MS; print the long gaps' stacks")
    ap.add_argument("--profile-select", metavar="FILE", help="cProfile of the GUI thread while images are selected")
    ap.add_argument("--switch-ms", type=float, help="the GUI's switch interval instead of jobs.GUI_SWITCH_INTERVAL")
    args = ap.parse_args(argv)

    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from tweakgui.engine.params.spec import TweakRegParams, coerce
    from tweakgui.engine.synthetic import make_demo_visit
    from tweakgui.gui.app import ensure_gc
    from tweakgui.gui.main_window import MainWindow

    if args.switch_ms:
        import tweakgui.gui.jobs

        tweakgui.gui.jobs.GUI_SWITCH_INTERVAL = args.switch_ms / 1000
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
    dog = Watchdog(clock, ticks, args.watchdog) if args.watchdog else None
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
            if args.profile_select:
                import cProfile

                shown["profile"] = cProfile.Profile()
                shown["profile"].enable()
            QTimer.singleShot(0, lambda: select(0))

    names = []

    def select(i):
        names[:] = names or [r.exposure.name for r in (win.ctl.result.images if win.ctl.result else [])]
        if i < min(args.select, len(names)):
            win.ctl.select_image(names[i * max(1, len(names) // max(args.select, 1)) % len(names)])
            QTimer.singleShot(SELECT_EVERY_MS, lambda: select(i + 1))
        else:
            if "profile" in shown:
                shown["profile"].disable()
                shown.pop("profile").dump_stats(args.profile_select)
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
    if dog is not None:
        dog.stop()
    code = _report(args, win, np.asarray(ticks, float), phases, shown, len(inputs) if args.inputs else args.images)
    if dog is not None:
        dog.report(phases)
    return code


class Watchdog:
    """A thread that samples every thread's Python stack while the probe's tick is late.

    It needs the GIL to sample, so a C call holding the GIL shows as the line that made it,
    sampled when it returns.  The GUI thread's collections (``gc.callbacks``) are timed too.
    """

    def __init__(self, clock, ticks, late_ms: float):
        import gc
        import threading
        import time

        self.clock, self.ticks, self.late_ms = clock, ticks, late_ms
        self.samples = []  # (tick index the gap follows, ms, {thread: stack})
        self.collections = []  # (ms, generation, duration ms, collected, objects in generation 2)
        self.gc_types = []  # (ms, [(type, references, objects)])
        self._t0 = None
        self._time = time
        self._gui = threading.main_thread().ident
        self._gui_tid = threading.main_thread().native_id
        try:
            self._gui_clock = time.pthread_getcpuclockid(self._gui)
        except (AttributeError, OSError):
            self._gui_clock = None
        gc.callbacks.append(self._gc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._thread.start()

    def _gc(self, phase, info):
        import gc

        if phase == "start":
            # the objects a full collection walks (counting them adds to its gap)
            self._walked = len(gc.get_objects(2)) if info["generation"] == 2 else None
            if self._walked and self._walked > 40000 and os.environ.get("WATCHDOG_GC_TYPES"):
                from collections import Counter

                refs, count = Counter(), Counter()
                for o in gc.get_objects(2):
                    refs[type(o).__qualname__] += len(gc.get_referents(o))
                    count[type(o).__qualname__] += 1
                self.gc_types.append((self.clock.elapsed(), [(t, n, count[t]) for t, n in refs.most_common(12)]))
            self._c0 = self._time.thread_time()
            self._t0 = self._time.perf_counter()
        elif self._t0 is not None:
            wall, cpu = self._time.perf_counter() - self._t0, self._time.thread_time() - self._c0
            self.collections.append((self.clock.elapsed(), info["generation"], wall * 1000, info["collected"],
                                     self._walked, cpu * 1000))

    def _loop(self):
        import sys
        import threading
        import traceback

        while not self._stop.wait(0.003):
            n = len(self.ticks)
            if not n or self.clock.elapsed() - self.ticks[-1] < self.late_ms:
                continue
            names = {t.ident: t.name for t in threading.enumerate()}
            stacks = {}
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                name = "GUI" if ident == self._gui else names.get(ident, f"thread {ident}")
                stack = traceback.extract_stack(frame)[-14:]
                stacks[name] = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack]
            self.samples.append((n - 1, self.clock.elapsed(), stacks, self._gui_state()))

    def _gui_state(self):
        """The GUI thread's CPU ms and its voluntary (waits: the GIL, poll) and forced context switches."""
        import time

        cpu = time.clock_gettime(self._gui_clock) * 1000 if self._gui_clock is not None else float("nan")
        try:
            text = Path(f"/proc/self/task/{self._gui_tid}/status").read_text()
            switches = [int(line.split()[1]) for line in text.splitlines() if "ctxt_switches" in line]
            # ns runnable but waiting for a CPU (the machine's other load)
            queued = int(Path(f"/proc/self/task/{self._gui_tid}/schedstat").read_text().split()[1]) / 1e6
        except (OSError, ValueError, IndexError):
            switches, queued = [0, 0], float("nan")
        return cpu, *switches, queued

    def stop(self):
        import gc

        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._gc)

    def report(self, phases, shown: int = 12):
        """The longest gaps, each with its phase and the distinct stacks sampled during it."""
        import numpy as np

        long = [c for c in self.collections if c[2] > 20]
        print(f"\n{len(self.collections)} collections, {len(long)} over 20 ms:")
        for ms, gen, dur, collected, walked, cpu in long:
            print(f"   at {ms} ms gen {gen}: {dur:.0f} ms ({cpu:.0f} ms CPU), {collected} collected, {walked} in gen 2")
        for ms, types in self.gc_types:
            print(f"   gen 2 at {ms} ms, by references: {types}")

        ticks = np.asarray(self.ticks, float)
        gaps = np.diff(ticks)
        bounds = sorted(phases.items(), key=lambda kv: kv[1])
        for i in np.argsort(gaps)[::-1][:shown]:
            if gaps[i] < self.late_ms:
                break
            phase = [name for name, a in bounds if a <= i][-1] if bounds and bounds[0][1] <= i else "-"
            print(f"\n== gap {gaps[i]:.0f} ms at {ticks[i]:.0f} ms ({phase})")
            for ms, gen, dur, collected, walked, cpu in self.collections:
                if ticks[i] <= ms <= ticks[i + 1] and dur > 2:
                    print(f"   gc gen {gen}: {dur:.0f} ms ({cpu:.0f} ms CPU), {collected} collected, {walked} in gen 2")
            seen = {}
            states = [(ms, st) for k, ms, _, st in self.samples if k == i]
            if len(states) > 1:
                (m0, (c0, v0, f0, q0)), (m1, (c1, v1, f1, q1)) = states[0], states[-1]
                print(f"   GUI thread from +{m0 - ticks[i]:.0f} to +{m1 - ticks[i]:.0f} ms: {c1 - c0:.0f} ms CPU, "
                      f"{q1 - q0:.0f} ms waiting for a CPU, {v1 - v0} waits, {f1 - f0} preemptions")
            for k, ms, stacks, _ in self.samples:
                if k != i:
                    continue
                for name, stack in stacks.items():
                    key = (name, tuple(stack))
                    seen.setdefault(key, []).append(ms - ticks[i])
            for (name, stack), at in seen.items():
                if name == "GUI" or any("wait" not in line and "_bootstrap" not in line for line in stack[-2:]):
                    print(f"-- {name} sampled {len(at)}x at +{', +'.join(f'{a:.0f}' for a in at[:6])} ms")
                    for line in stack:
                        print(f"     {line}")


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
