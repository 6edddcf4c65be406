"""Start the desktop application, and its automation for checks and docs.

``tweakgui --demo --run --screenshot FILE --exit`` loads the demo visit (or
the given inputs), runs the alignment, selects the first aligned image, saves
a PNG of the main window and exits 0, or non-zero when the run failed.
"""

from __future__ import annotations

import gc
import logging
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["main", "demo_inputs", "ensure_gc", "GuiCollector", "Automation"]

# the collector of each application, kept on the application object under this name
_GC_ATTR = "_tweakgui_gc"


def ensure_gc(app):
    """Collect reference cycles in the GUI thread only, for as long as ``app`` lives.

    Python's cyclic collector runs in whichever thread happens to allocate; in
    the worker thread it may destroy Qt objects caught in cycles (pyqtgraph
    items of a closed window) outside the GUI thread, and Qt crashes.
    pyqtgraph's ``GarbageCollector`` turns automatic collection off and
    collects from a timer in the GUI thread with the interpreter's thresholds.
    Call this in the GUI thread right after creating the application; calling
    it again for the same application does nothing.

    Parameters
    ----------
    app : QCoreApplication
        The application tweakgui runs in.

    Returns
    -------
    pyqtgraph.util.garbage_collector.GarbageCollector
        The application's collector.
    """
    collector = getattr(app, _GC_ATTR, None)
    if collector is None:
        collector = GuiCollector()
        collector.timer.setParent(app)  # stops and goes with the application
        setattr(app, _GC_ATTR, collector)
    return collector


class GuiCollector:
    """Automatic collection turned off; the GUI thread collects from a timer, in short steps.

    pyqtgraph's ``GarbageCollector`` checks every half second and then collects
    every young object the worker made meanwhile (700,000 while it reads 100
    GWCS files: 1.5 s), and the whole heap every tenth time (2 s for 100
    images, tens of seconds for a 690-image mosaic): the window froze.  Here
    the check runs every 20 ms, and the objects that survive a full collection
    are frozen (``gc.freeze``), so the next full collection looks only at those
    made since.  Cycles among frozen objects that become garbage later are not
    collected (their memory stays until the application exits).

    A full collection walks every object made since the last one that is still alive:
    while a worker reads 100 GWCS files, with the interpreter's ten younger collections
    between full ones, that was ~140 ms of GUI thread at once.  Here a full collection
    follows every ``full_every`` collections of the middle generation: the same objects
    are walked, in smaller steps.  By default (0) there is no middle generation: each of
    its collections is a full one, which then walks what a middle one would (the young
    survivors since the last freeze); with two middle collections in between, a 690-image
    run's full collections walked 50,000-100,000 objects (60-80 ms of CPU).  The young
    collections between full ones are ``young_per_middle`` (3), not the interpreter's ten:
    after eleven, a full collection while a mosaic's results came in took 35-50 ms; after
    three, at most ~20 ms.  More freezes keep more of the worker's cycles that become garbage
    later; the full collections of a run found almost none (0 of 50,000-100,000 objects at each).
    """

    def __init__(self, interval_ms: int = 20, full_every: int = 0, young_per_middle: int = 3):
        from PySide6.QtCore import QTimer

        t0 = gc.get_threshold()[0]
        self.threshold = (t0, young_per_middle - 1, full_every - 1)
        gc.disable()
        # what is alive now (modules, the application) is walked once, here, before any window:
        # the first full collection during a load walked it all (~130 ms)
        gc.collect()
        gc.freeze()
        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        l0, l1, l2 = gc.get_count()
        if l0 <= self.threshold[0]:
            return
        if l1 <= self.threshold[1]:
            gc.collect(0)
        elif l2 <= self.threshold[2]:
            gc.collect(1)
        else:
            gc.collect(2)
            gc.freeze()


def _warm_up_lowered() -> threading.Thread:
    """Start the engine's forkserver now (no pause at the first run), at the priority of the GUI's workers.

    The server and every process it forks inherit the niceness of the thread that starts it.
    """
    from tweakgui.engine.processes import warm_up
    from tweakgui.gui.priority import lower_this_thread

    def start():
        lower_this_thread()
        t = warm_up()
        if t is not None:
            t.join()

    t = threading.Thread(target=start, name="tweakgui-warm-up", daemon=True)
    t.start()
    return t


def demo_inputs(directory: str | Path | None = None, **kwargs) -> tuple[list[str], dict]:
    """Write the demo visit (once) and return its inputs and parameter overrides."""
    from tweakgui.engine.synthetic import make_demo_visit

    if directory is None:
        directory = Path.home() / ".cache" / "tweakgui" / "demo"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            directory = Path(tempfile.mkdtemp(prefix="tweakgui-demo-"))
    demo = make_demo_visit(directory, **kwargs)
    return [str(p) for p in demo.paths], {"abs_refcat": str(demo.refcat)}


class Automation:
    """Drive a window through load → run → select → screenshot → exit.

    ``exit_code`` is 0 when every step worked and no image failed, 1 when
    the run finished with failed images, 2 when loading or running failed.
    """

    def __init__(self, window, run: bool, screenshot: str | None, exit_after: bool):
        from PySide6.QtWidgets import QApplication

        self.win = window
        self.run = run
        self.screenshot = screenshot
        self.exit_after = exit_after
        self.exit_code = 0
        self._waits = 0
        self.app = QApplication.instance()
        window.ctl.jobDone.connect(self._job_done)

    def _job_done(self, kind: str, ok: bool) -> None:
        if kind == "load":
            if not ok:
                self._finish(2)
            elif self.run:
                self.win.ctl.run()
            else:
                self._finish(0)
        elif kind in ("run", "refit"):
            if not ok:
                self._finish(2)
                return
            result = self.win.ctl.result
            first = next((r for r in result.images if r.status == "SUCCESS"), None)
            if first is not None:
                self.win.ctl.select_image(first.exposure.name)
                self._select_first_match()
            self._finish(1 if result.n_failed else 0)

    def _select_first_match(self) -> None:
        keys = self.win.residuals.keys
        if keys:
            self.win.ctl.select_match(keys[len(keys) // 2])

    def _finish(self, code: int) -> None:
        self.exit_code = code
        # let the plots paint before grabbing
        self.win.later(400, self._grab_and_exit)

    def _grab_and_exit(self) -> None:
        if self.win.image_view.loading and self._waits < 100:
            self._waits += 1  # the selected image is still being read
            self.win.later(100, self._grab_and_exit)
            return
        if self.screenshot:
            if not self.win.grab_to(self.screenshot):
                log.error("could not write the screenshot %s", self.screenshot)
                self.exit_code = self.exit_code or 2
        if self.exit_after:
            self.win.close()
            self.app.exit(self.exit_code)


def main(inputs: list[str], demo: bool, run: bool, screenshot: str | None, exit_after: bool,
         params_overrides: dict) -> int:
    """Open the main window; returns the application's exit status."""
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from tweakgui.engine.params.spec import ParameterError, TweakRegParams

    overrides = dict(params_overrides or {})
    if demo:
        try:
            demo_specs, demo_over = demo_inputs()
        except Exception as exc:  # noqa: BLE001 - one line, no traceback
            print(f"tweakgui: cannot write the demo visit: {exc}", file=sys.stderr)
            return 2
        inputs = list(inputs or []) or demo_specs
        for k, v in demo_over.items():
            overrides.setdefault(k, v)
    try:
        params = TweakRegParams(**overrides)
    except ParameterError as exc:
        print(f"tweakgui: {exc}", file=sys.stderr)
        return 2

    _warm_up_lowered()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ensure_gc(app)
    app.setApplicationName("tweakgui")
    app.setOrganizationName("tweakgui")
    app.setApplicationDisplayName("tweakgui")
    app.setDesktopFileName("tweakgui")
    icon = QIcon()
    for root in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2]):
        for f in sorted((root / "resources" / "icons" / "app" / "hicolor").glob("*/apps/io.github.tweakgui.*")):
            icon.addFile(str(f))
    if not icon.isNull():
        app.setWindowIcon(icon)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    from tweakgui.gui.main_window import MainWindow

    settings = QSettings()
    win = MainWindow(settings, params=params)
    auto = Automation(win, run, screenshot, exit_after)
    win.show()
    if inputs:
        win.ctl.set_inputs(list(inputs))
    elif run or exit_after:
        print("tweakgui: --run/--exit need inputs or --demo", file=sys.stderr)
        win.close()
        return 2
    code = app.exec()
    return auto.exit_code if exit_after else code
