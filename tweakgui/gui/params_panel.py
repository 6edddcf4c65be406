"""Detection and fit settings, built from the parameter spec.

One field per :data:`~tweakgui.engine.params.spec.SPEC` entry, grouped as the spec
groups them; each field's tooltip is the parameter's description with its
default and allowed range; fields that do not apply to the chosen
``starfinder`` are hidden.  A value is validated when the field is left: an
invalid value keeps the field red with the reason underneath and the previous
value stays in force.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from tweakgui.engine.params.spec import (
    GROUPS,
    SPEC,
    SPEC_BY_NAME,
    ParameterError,
    ParamSpec,
    TweakRegParams,
)
from tweakgui.gui.layouts import bar_above

log = logging.getLogger(__name__)

__all__ = ["ParamsPanel", "tooltip_for"]

GROUP_TITLES = {"catalogs": "Catalogs", "finder": "Source finder", "background": "Background",
                "matching": "Matching (relative)", "fit": "Fit", "absolute": "Absolute alignment",
                "refcat": "Reference catalog (absolute)",
                "sip": "SIP approximation (JWST)", "drizzlepac": "Exclusions and naming",
                "performance": "Performance"}
ERROR_STYLE = "QLineEdit { border: 2px solid #d63031; background: #fdecea; }"


def _fmt(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, list):
        return " ".join(f"{x:g}" for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# parameters naming a file get a Browse button (abs_refcat may also name a Gaia release)
FILE_PARAMS = {"catfile": "Catfile (*.txt *.lst *.cat);;All files (*)",
               "abs_refcat": "Reference catalogs (*.ecsv *.fits *.csv *.cat *.txt);;All files (*)",
               "exclusions": "Exclusions (*.txt *.reg *.lst);;All files (*)"}
# parameters whose value a run reads from a file: kept by Defaults
FILE_VALUED = tuple(FILE_PARAMS)


def unit_of(spec: ParamSpec) -> str:
    """The unit of a numeric parameter, read from its description."""
    if spec.type not in (float, int, list):
        return ""
    doc = spec.doc
    m = re.search(r"(?:, |many )(arcsec|pixels|mas/yr|mas|mag|decimal year)\b", doc)
    if m:
        return {"pixels": "px", "decimal year": "yr"}.get(m.group(1), m.group(1))
    if "in units of kernel_fwhm" in doc:
        return "× kernel_fwhm"
    if "in units of the background RMS" in doc or "in units of their sigma" in doc:
        return "σ"
    if "in units of its sigma" in doc:
        return "× σ"
    return ""


def tooltip_for(spec: ParamSpec) -> str:
    """The field's tooltip: description, default and allowed values."""
    parts = [f"<b>{spec.name}</b>: {spec.doc}", f"default: {_fmt(spec.default)}"]
    if spec.choices:
        parts.append("one of: " + ", ".join(map(str, spec.choices)))
    lims = []
    if spec.min is not None:
        lims.append(f"{'>' if spec.min_exclusive else '≥'} {spec.min:g}")
    if spec.max is not None:
        lims.append(f"≤ {spec.max:g}")
    if lims:
        parts.append("allowed: " + ", ".join(lims) + (" or None" if spec.allow_none else ""))
    elif spec.allow_none:
        parts.append("None allowed")
    if spec.finders:
        parts.append("used by: " + ", ".join(spec.finders))
    return "<br>".join(parts)


class ParamsPanel(QWidget):
    """Editable parameters; ``apply(name, value)`` validates and stores a change."""

    loadRequested = Signal(str, object)  # path, section
    saveRequested = Signal(str, object)
    resetRequested = Signal()

    def __init__(self, apply: Callable[[str, object], None], parent=None):
        super().__init__(parent)
        self.apply = apply
        self.fields: dict[str, QWidget] = {}
        self.browse: dict[str, QPushButton] = {}
        self.errors: dict[str, QLabel] = {}
        self._forms: dict[str, QFormLayout] = {}
        self._updating = False
        self.last_dir = ""
        inner = QWidget()
        v = QVBoxLayout(inner)
        for group in GROUPS:
            box = QGroupBox(GROUP_TITLES.get(group, group.capitalize()))
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
            self._forms[group] = form
            for spec in (s for s in SPEC if s.group == group):
                self._add_field(form, spec)
            v.addWidget(box)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        buttons = QHBoxLayout()
        for text, tip, slot in (("Load…", "Load an ASDF parameter file or an INI cfg (choose a section)",
                                 self._load),
                                ("Save…", "Save the parameters as ASDF pars (.asdf) or INI cfg (.cfg)",
                                 self._save),
                                ("Defaults", "Reset every parameter to its default, except the "
                                 "files named (" + ", ".join(FILE_VALUED) + ")",
                                 self.resetRequested.emit)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        bar_above(self, buttons, scroll)
        self.set_params(TweakRegParams())

    def _add_field(self, form: QFormLayout, spec: ParamSpec) -> None:
        if spec.type is bool:
            w = QCheckBox()
            w.toggled.connect(lambda b, n=spec.name: self._commit(n, b))
        elif spec.choices is not None:
            w = QComboBox()
            w.addItems([str(c) for c in spec.choices])
            w.currentTextChanged.connect(lambda t, n=spec.name: self._commit(n, t))
        else:
            w = QLineEdit()
            w.editingFinished.connect(lambda n=spec.name: self._commit(n, self.fields[n].text()))
            if spec.allow_none:
                w.setPlaceholderText("None")
        w.setObjectName(spec.name)
        w.setToolTip(tooltip_for(spec))
        err = QLabel()
        err.setStyleSheet("color: #d63031;")
        err.setWordWrap(True)
        err.hide()
        cell = QWidget()
        cl = QVBoxLayout(cell)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(1)
        if spec.name in FILE_PARAMS:
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(w, 1)
            b = QPushButton("Browse…")
            b.setObjectName(f"browse_{spec.name}")
            b.setToolTip(f"Choose the {spec.name} file")
            b.clicked.connect(lambda _c=False, n=spec.name: self._browse(n))
            row.addWidget(b)
            self.browse[spec.name] = b
            cl.addLayout(row)
        else:
            cl.addWidget(w)
        cl.addWidget(err)
        unit = unit_of(spec)
        label = QLabel(f"{spec.name} ({unit})" if unit else spec.name)
        label.setToolTip(tooltip_for(spec))
        form.addRow(label, cell)
        self.fields[spec.name] = w
        self.errors[spec.name] = err

    # ------------------------------------------------------------ values
    def _commit(self, name: str, value) -> None:
        if self._updating:
            return
        spec = SPEC_BY_NAME[name]
        if spec.type is not bool and spec.choices is None and str(value).strip() == "" and spec.allow_none:
            value = None
        elif spec.type is int and spec.choices is not None:
            value = int(value)
        try:
            self.apply(name, value)
        except ParameterError as exc:
            self.show_error(name, str(exc))
            return
        self.clear_error(name)
        if name == "starfinder":
            self._show_relevant(str(value))

    def show_error(self, name: str, message: str) -> None:
        """Mark a field invalid with the reason (also for cross-field errors)."""
        if name not in self.fields:
            # a message about two parameters names the first one it mentions
            name = next((n for n in self.fields if message.startswith(n)), None)
            if name is None:
                log.error("%s", message)
                return
        w = self.fields[name]
        if isinstance(w, QLineEdit):
            w.setStyleSheet(ERROR_STYLE)
        self.errors[name].setText(message)
        self.errors[name].show()

    def clear_error(self, name: str) -> None:
        self.fields[name].setStyleSheet("")
        self.errors[name].hide()

    def has_errors(self) -> bool:
        return any(not e.isHidden() for e in self.errors.values())

    def set_params(self, params: TweakRegParams) -> None:
        """Show ``params`` in every field (without applying anything)."""
        self._updating = True
        try:
            for name, w in self.fields.items():
                v = getattr(params, name)
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QComboBox):
                    w.setCurrentText(str(v))
                else:
                    w.setText("" if v is None else _fmt(v))
                self.clear_error(name)
        finally:
            self._updating = False
        self._show_relevant(params.starfinder)

    def _show_relevant(self, finder: str) -> None:
        for group, form in self._forms.items():
            for spec in (s for s in SPEC if s.group == group):
                visible = spec.finders is None or finder in spec.finders
                form.setRowVisible(self.fields[spec.name].parentWidget(), visible)

    def is_shown(self, name: str) -> bool:
        return self.fields[name].isVisibleTo(self)

    # -------------------------------------------------------------- files
    def _browse(self, name: str) -> None:
        start = self.fields[name].text().strip()
        start = str(Path(start).parent) if start and Path(start).parent.is_dir() else self.last_dir
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {name}", start, FILE_PARAMS[name])
        if not path:
            return
        self.fields[name].setText(path)
        self._commit(name, path)

    def _load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load parameters", self.last_dir,
            "Parameter files (*.asdf *.cfg *.ini);;All files (*)")
        if not path:
            return
        section = None
        if path.lower().endswith((".cfg", ".ini")):
            from tweakgui.engine.params.files import cfg_sections

            try:
                sections = cfg_sections(path)
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.loadRequested.emit(path, exc)
                return
            if len(sections) > 1:
                section, ok = QInputDialog.getItem(self, "Choose a section",
                                                   "This cfg file has several visits:", sections, 0, False)
                if not ok:
                    return
        self.loadRequested.emit(path, section)

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save parameters", self.last_dir,
                                              "ASDF pars (*.asdf);;INI cfg (*.cfg)")
        if not path:
            return
        section = None
        if path.lower().endswith((".cfg", ".ini")):
            section, ok = QInputDialog.getText(self, "Section", "Section name in the cfg file:",
                                               text="tweakreg")
            if not ok or not section.strip():
                return
        self.saveRequested.emit(path, section)
