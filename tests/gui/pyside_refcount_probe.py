"""Count the references that Qt signal emissions take from ``True``, ``False`` and ``None``.

Run as a script in a fresh interpreter (``python pyside_refcount_probe.py [N]``);
it needs only PySide6, so it also runs in a bare environment with another
PySide6 release.  It prints one JSON object: the PySide6 and Python versions
and, for each way of emitting, how much the reference counts of ``True``,
``False`` and ``None`` changed after ``N`` emissions (0 when PySide6 is
correct; about ``-N`` when every emission drops a reference).

Before Python 3.12 these objects are mortal: a release that drops a reference
per emission lets the count reach zero and the interpreter aborts with
"Fatal Python error: bool_dealloc" (or none_dealloc).  The probe holds
``10 * N`` extra references of its own first, so that it measures the loss
instead of crashing.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import PySide6  # noqa: E402
from PySide6.QtCore import QObject, Signal  # noqa: E402
from PySide6.QtGui import QAction  # noqa: E402
from PySide6.QtWidgets import QApplication, QCheckBox  # noqa: E402


class _Emitter(QObject):
    flag = Signal(bool)
    value = Signal(object)


def _counts():
    return {"True": sys.getrefcount(True), "False": sys.getrefcount(False), "None": sys.getrefcount(None)}


def _measure(n, step):
    before = _counts()
    for i in range(n):
        step(i)
    after = _counts()
    return {k: after[k] - before[k] for k in before}


def main(n):
    # extra references so that a losing release cannot drive a count to zero here
    keep = [True, False, None] * (10 * n)  # noqa: F841
    app = QApplication.instance() or QApplication([])
    e = _Emitter()
    got = []
    e.flag.connect(lambda v: got.append(1))
    e.value.connect(lambda v: got.append(1))
    act = QAction("probe")
    act.setCheckable(True)
    act.triggered.connect(lambda checked=False: got.append(1))
    plain = QAction("plain")
    plain.triggered.connect(lambda: got.append(1))
    box = QCheckBox("probe")
    box.toggled.connect(lambda checked: got.append(1))

    def flush():
        got.clear()

    deltas = {
        "Signal(bool).emit": _measure(n, lambda i: e.flag.emit(i % 2 == 0)),
        "Signal(object).emit(True)": _measure(n, lambda i: e.value.emit(True)),
        "Signal(object).emit(None)": _measure(n, lambda i: e.value.emit(None)),
        "QAction.trigger (checkable)": _measure(n, lambda i: act.trigger()),
        "QAction.trigger": _measure(n, lambda i: plain.trigger()),
        "QCheckBox.toggle": _measure(n, lambda i: box.toggle()),
    }
    flush()
    app.processEvents()
    print(json.dumps({"pyside6": PySide6.__version__,
                      "python": ".".join(map(str, sys.version_info[:3])),
                      "n": n, "deltas": deltas}), flush=True)
    # a losing release has taken references that ``keep`` still holds; leaving
    # without finalization spares the abort that releasing them would cause
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
