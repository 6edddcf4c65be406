import pytest
from fake_engine import FakeEngine


@pytest.fixture(scope="session")
def qapp(qapp):
    """pytest-qt's application, given the GUI-thread collector as ``tweakgui`` gives its own."""
    from tweakgui.gui.app import ensure_gc

    ensure_gc(qapp)
    return qapp


@pytest.fixture
def fake_engine():
    eng = FakeEngine()
    yield eng
    eng.gate.set()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A generated visit: 3 dithered 512×512 images with a reference catalog and the true WCS."""
    from tweakgui.engine.synthetic import make_demo_visit

    d = tmp_path_factory.mktemp("demo")
    return make_demo_visit(d, n_images=3, shape=(512, 512), seed=3)


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Build a MainWindow with private settings; closed (worker stopped) at teardown."""
    from PySide6.QtCore import QSettings

    from tweakgui.gui.main_window import MainWindow

    made = []

    def make(engine=None, **params):
        from tweakgui.engine.params.spec import TweakRegParams

        settings = QSettings(str(tmp_path / f"settings{len(made)}.ini"), QSettings.IniFormat)
        win = MainWindow(settings, engine=engine, params=TweakRegParams(**params))
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for w in made:
        w.close()


@pytest.fixture
def load_and_run(qtbot):
    """``load_and_run(win, paths)``: the window loads ``paths`` and runs; the run must succeed."""

    def load_and_run(win, paths):
        with qtbot.waitSignal(win.ctl.jobDone, timeout=30000):
            win.ctl.set_inputs([str(p) for p in paths])
        with qtbot.waitSignal(win.ctl.jobDone, timeout=60000) as b:
            win.ctl.run()
        assert b.args == ["run", True]

    return load_and_run
