"""Menus, toolbar, shortcuts and recent files of the main window."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QToolBar

from tweakgui.gui.icons import icon

__all__ = ["build", "add_recent", "save_outputs_dialog", "open_session", "save_session",
           "update_save_actions"]

MAX_RECENT = 10


def _action(win, key, text, slot, shortcut=None, icon_name=None, tip=None):
    a = QAction(text, win)
    if icon_name:
        a.setIcon(icon(icon_name))
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut else tip)
    a.triggered.connect(lambda _checked=False: slot())
    a.setObjectName(key)
    win.actions[key] = a
    return a


def build(win) -> dict:
    """Create menus and the toolbar; returns the actions by key."""
    win.actions = {}
    mb = win.menuBar()
    for fill, title in ((_file_menu, "&File"), (_align_menu, "&Align"), (_save_menu, "&Save"),
                        (_view_menu, "&View"), (_help_menu, "&Help")):
        fill(win, mb.addMenu(title))
    tb = QToolBar("Main")
    tb.setObjectName("toolbar_main")
    for key in ("add", "open_session", "run", "refit", "cancel", "exclude", "save_outputs"):
        tb.addAction(win.actions[key])
    win.addToolBar(tb)
    return win.actions


def _file_menu(win, m) -> None:
    m.addAction(_action(win, "add", "&Add Images, Catalogs or ASN…", win.files.add_dialog, QKeySequence.Open,
                        "add", "Add FITS images, catalogs with a WCS (no pixels), an @list or an ASN json"))
    m.addAction(_action(win, "open_asn", "Open A&SN…", win.files.open_asn_dialog, "Ctrl+Shift+A",
                        "add", "Open an association (ASN json); it replaces the current inputs"))
    win.recent_menu = m.addMenu("Open &Recent")
    win.recent_menu.aboutToShow.connect(lambda: _fill_recent(win))
    m.addSeparator()
    m.addAction(_action(win, "open_session", "Open &Session…", lambda: open_session(win),
                        "Ctrl+Shift+O", "session", "Reopen a saved session"))
    m.addAction(_action(win, "save_session", "Save Session &As…", lambda: save_session(win),
                        QKeySequence.Save, "save", "Save inputs, parameters, regions, excluded "
                        "matches and results in one file"))
    m.addSeparator()
    m.addAction(_action(win, "load_params", "Load &Parameters…", win.params_panel._load,
                        tip="Load an ASDF parameter file or an INI cfg"))
    m.addAction(_action(win, "save_params", "Save P&arameters…", win.params_panel._save,
                        tip="Save the parameters as ASDF pars or INI cfg"))
    m.addSeparator()
    from tweakgui.gui.samp_menu import SampMenu

    win.samp = SampMenu(win, m)
    m.addSeparator()
    m.addAction(_action(win, "quit", "&Quit", win.close, QKeySequence.Quit))


def _align_menu(win, m) -> None:
    c = win.ctl
    m.addAction(_action(win, "run", "&Detect and Align", c.run, "F5", "run",
                        "Detect sources and align the visit"))
    m.addAction(_action(win, "refit", "&Refit (Keep Catalogs)", c.refit, "F6", "refit",
                        "Fit again with the last catalogs, e.g. after changing fit parameters"))
    m.addAction(_action(win, "cancel", "&Cancel", c.cancel, "Esc", "cancel", "Cancel the running job"))
    m.addSeparator()
    m.addAction(_action(win, "exclude", "&Exclude / Restore Selected Match",
                        win.exclude_selected, "Del",
                        "exclude", "Leave the highlighted match out of the fit (or restore it) and refit"))

    m.addSeparator()
    review = m.addMenu("Re&view Images")
    for key, text, args, sc, tip in (
        ("review_accept", "&Accept and Next", (True, 1), "A", "Accept the image's fit for saving, go to the next"),
        ("review_reject", "&Reject and Next", (False, 1), "R", "Reject the image's fit (not saved), go to the next"),
        ("review_next", "&Next Image", (None, 1), "N", "Go to the next image"),
        ("review_prev", "&Previous Image", (None, -1), "P", "Go to the previous image"),
    ):
        review.addAction(_action(win, key, text, lambda a=args: c.review_step(*a), sc, tip=tip))


def _save_menu(win, m) -> None:
    m.addAction(_action(win, "save_outputs", "Save &Outputs…", lambda: save_outputs_dialog(win),
                        "Ctrl+Shift+S", "save", "Write images, headerlets, WCS files, shiftfile "
                        "and report for the accepted images"))
    m.addSeparator()
    for kind, text in (("images", "Updated &Images…"), ("headerlets", "&Headerlets…"),
                       ("wcs", "&WCS Files (ASDF)…"), ("shiftfile", "&Shiftfile…"),
                       ("report", "&Report…")):
        m.addAction(_action(win, f"save_{kind}", text,
                            lambda k=kind: save_outputs_dialog(win, kinds=[k])))
    win.actions["save_wcs"].setToolTip("GWCS files (ASDF) of JWST inputs")


def _view_menu(win, m) -> None:
    for dock in win.docks.values():
        m.addAction(dock.toggleViewAction())
    m.addSeparator()
    layers = m.addMenu("Image &Overlays")
    for n, (name, label) in enumerate(win.image_view.layer_labels().items()):
        a = QAction(label, win)
        a.setCheckable(True)
        a.setChecked(True)
        a.setShortcut(QKeySequence(f"Alt+{n + 1}"))
        a.setObjectName(f"layer_{name}")
        a.setToolTip(f"Show or hide the {label} symbols on the image (or click the legend)")
        a.toggled.connect(lambda on, k=name: win.image_view.set_layer_visible(k, on))
        win.image_view.layerToggled.connect(
            lambda k, on, a=a, name=name: a.setChecked(on) if k == name else None)
        win.actions[f"layer_{name}"] = a
        layers.addAction(a)
    m.addSeparator()
    m.addAction(_action(win, "reset_layout", "Reset &Layout", lambda: _reset_layout(win)))


def _help_menu(win, m) -> None:
    m.addAction(_action(win, "shortcuts", "&Keyboard and Mouse", lambda: _shortcuts(win), "F1"))
    m.addAction(_action(win, "about", "&About tweakgui", lambda: _about(win)))


def _about(win):
    from tweakgui.gui.dialogs import show_about

    win._dialog = show_about(win)


def _shortcuts(win):
    from PySide6.QtWidgets import QMessageBox

    from tweakgui.gui.dialogs import shortcuts_text

    box = QMessageBox(QMessageBox.Information, "Keyboard and mouse", shortcuts_text(win.actions),
                      QMessageBox.Ok, win)
    box.open()
    win._dialog = box


def _reset_layout(win):
    for dock in win.docks.values():
        dock.setFloating(False)
    win.restoreState(win.default_state)
    for dock in win.docks.values():
        dock.show()
    win.docks["residuals"].raise_()
    win.docks["matches"].raise_()


# ---------------------------------------------------------------- recent files
def _recent(win) -> list[dict]:
    raw = win.settings.value("recent/items", "[]")
    try:
        items = json.loads(raw) if isinstance(raw, str) else []
    except json.JSONDecodeError:
        items = []
    return [i for i in items if isinstance(i, dict) and "kind" in i and "specs" in i]


def add_recent(win, kind: str, specs: list[str]) -> None:
    """Remember inputs or a session file (QSettings; newest first)."""
    entry = {"kind": kind, "specs": [str(s) for s in specs]}
    items = [entry] + [i for i in _recent(win) if i != entry]
    win.settings.setValue("recent/items", json.dumps(items[:MAX_RECENT]))


def _fill_recent(win) -> None:
    menu = win.recent_menu
    menu.clear()
    items = _recent(win)
    if not items:
        menu.addAction("(none)").setEnabled(False)
        return
    for item in items:
        specs = item["specs"]
        label = Path(specs[0].lstrip("@")).name + (f" + {len(specs) - 1} more" if len(specs) > 1 else "")
        if item["kind"] == "session":
            a = menu.addAction(icon("session"), f"Session: {label}")
            a.triggered.connect(lambda _c=False, p=specs[0]: open_session(win, p))
        else:
            a = menu.addAction(icon("add"), label)
            a.triggered.connect(lambda _c=False, s=specs: win.ctl.set_inputs(s))
        a.setToolTip("\n".join(specs))


# --------------------------------------------------------------------- sessions
def open_session(win, path: str | None = None) -> None:
    from tweakgui.gui.session import apply_session, read_session

    if path is None:
        path, _ = QFileDialog.getOpenFileName(win, "Open session", win.files.last_dir,
                                              "tweakgui sessions (*.tweakgui.json *.json)")
        if not path:
            return
    try:
        d = read_session(path)
    except ValueError as exc:
        win.show_error("Cannot open session", str(exc))
        return
    win.remember_dir(path)
    add_recent(win, "session", [str(path)])
    apply_session(win.ctl, d)
    win.setWindowTitle(f"tweakgui — {Path(path).name}")


def save_session(win, path: str | None = None) -> None:
    from tweakgui.gui.session import write_session

    if path is None:
        path, _ = QFileDialog.getSaveFileName(win, "Save session", win.files.last_dir,
                                              "tweakgui sessions (*.tweakgui.json)")
        if not path:
            return
        if not path.endswith(".json"):
            path += ".tweakgui.json"
    try:
        write_session(win.ctl, path)
    except OSError as exc:
        win.show_error("Cannot save session", str(exc))
        return
    win.remember_dir(path)
    add_recent(win, "session", [str(path)])
    win.setWindowTitle(f"tweakgui — {Path(path).name}")
    win.show_status(f"Session saved to {path}")


# ---------------------------------------------------------------------- outputs
def update_save_actions(win, visit) -> None:
    """WCS files are JWST GWCS files: offered only when the visit has JWST inputs."""
    a = win.actions.get("save_wcs")
    if a is None:
        return
    jwst = visit is not None and any(e.kind == "jwst" for e in visit.exposures)
    a.setEnabled(jwst)
    a.setText("&WCS Files (ASDF)…" if jwst or visit is None or not visit.exposures
              else "&WCS Files (ASDF) — JWST inputs only")
    reason = ("GWCS files (ASDF) of the JWST inputs" if jwst else
              "WCS files are GWCS (ASDF) files of JWST inputs; for FITS inputs save updated "
              "images or headerlets")
    a.setToolTip(reason)
    a.setStatusTip(reason)
def save_outputs_dialog(win, kinds=None) -> None:
    from tweakgui.gui.dialogs import SaveDialog

    if win.ctl.result is None:
        win.show_error("Nothing to save", "Run the alignment first (F5).")
        return
    last = str(win.settings.value("dirs/output", "") or win.files.last_dir or Path.cwd())
    dlg = SaveDialog(last, kinds, win.ctl.selected, win)
    if not dlg.exec():
        return
    directory, kinds, only_selected, in_place = dlg.choices()
    if not kinds:
        return
    if in_place:
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            win, "Update the input files?",
            "The accepted input images will be rewritten with the new WCS (the previous WCS is "
            "archived in each file and can be restored with 'tweakgui restore').",
            QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        if answer != QMessageBox.Yes:
            return
    win.settings.setValue("dirs/output", directory)
    only = {win.ctl.selected} if only_selected and win.ctl.selected else None
    win.ctl.save(directory, kinds=kinds, only=only, in_place=in_place)
