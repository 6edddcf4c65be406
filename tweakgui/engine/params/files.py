"""Parameter files and command-line overrides.

Three sources feed a :class:`~tweakgui.engine.params.spec.TweakRegParams`, later ones
winning: the defaults of :data:`~tweakgui.engine.params.spec.SPEC`, a parameter file
and ``--<name> VALUE`` options (:func:`resolve_params`).

Parameter files are

* stpipe ASDF parameter files (:func:`load_asdf_pars`, :func:`save_asdf_pars`):
  a single-step file as written by ``strun --save-parameters`` or a pipeline file
  with a ``steps`` list holding a ``tweakreg`` block;
* INI cfg files (:func:`load_cfg`, :func:`save_cfg`) with one section per visit,
  as CEERS used, or a drizzlepac TEAL ``tweakreg.cfg`` / ``imagefindpars.cfg``.
  Foreign names are translated by the tables of :mod:`.paramaliases`.

The loaders return a plain dict of tweakgui names whose values are converted to
the parameter's type but not cross-checked: a file whose values break a rule
(e.g. ``separation <= sqrt(2) * tolerance``) loads, and building
``TweakRegParams`` from it raises the error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tweakgui.engine.io.atomic import atomic_path, atomic_write_text
from tweakgui.engine.model import InputError
from tweakgui.engine.params import ini as cfg_format
from tweakgui.engine.params.aliases import CFG_ALIASES, JWST_LEGACY, translate
from tweakgui.engine.params.spec import (
    SPEC,
    SPEC_BY_NAME,
    TWEAKGUI_ONLY,
    TWEAKGUI_ONLY_CHOICES,
    ParameterError,
    TweakRegParams,
    coerce,
)

__all__ = [
    "JWST_STEP_CLASS",
    "load_asdf_pars",
    "save_asdf_pars",
    "load_cfg",
    "save_cfg",
    "cfg_sections",
    "load_params_file",
    "resolve_params",
    "parse_cli_overrides",
]

log = logging.getLogger(__name__)

JWST_STEP_CLASS = "jwst.tweakreg.tweakreg_step.TweakRegStep"
_EXTRAS_KEY = "tweakgui"  # top-level block of our ASDF files for what jwst lacks


# --------------------------------------------------------------------- ASDF


def load_asdf_pars(path) -> dict[str, Any]:
    """Read the tweakreg parameters of an stpipe ASDF parameter file.

    Parameters
    ----------
    path : str or Path
        A single-step file (top-level ``parameters``) or a pipeline file whose
        ``steps`` hold a block of class ``jwst.tweakreg.tweakreg_step.TweakRegStep``
        or name ``tweakreg``.  The legacy stpipe layout (``steps`` as a dict
        inside ``parameters``) is read too.

    Returns
    -------
    dict
        tweakgui parameter names to values converted to their type, in
        :data:`SPEC` order.  stpipe-generic keys (``output_dir``, ``skip``, ...)
        are dropped (debug log), unknown keys are dropped with a warning, and
        names of old jwst versions (``threshold``, ``align_to_gaia`` ...) are
        translated.

    Raises
    ------
    InputError
        The file is missing, not ASDF or has no tweakreg parameters.
    ParameterError
        A value has the wrong type; the message names the file and parameter.
    """
    import asdf

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: parameter file not found")
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = _plain(dict(af.tree))
    except Exception as exc:  # asdf raises many kinds on a non-ASDF file
        raise InputError(f"{path}: not a readable ASDF parameter file ({_oneline(exc)})") from None
    pars, extras = _find_tweakreg_block(tree, path)
    raw = translate(pars, JWST_LEGACY, str(path))
    raw.update(extras)
    return _typed(raw, path)


def _find_tweakreg_block(tree: dict, path: Path) -> tuple[dict, dict]:
    extras = tree.get(_EXTRAS_KEY) or {}
    if not isinstance(extras, dict):
        extras = {}
    steps = tree.get("steps")
    params = tree.get("parameters")
    if isinstance(params, dict) and isinstance(params.get("steps"), dict):
        # legacy stpipe layout: parameters: {class, name, steps: {name: {...}}}
        steps = [dict(v, name=k) for k, v in params["steps"].items() if isinstance(v, dict)]
        steps = [{"class": s.pop("class", ""), "name": s.pop("name"), "parameters": s} for s in steps]
    if isinstance(steps, list) and steps:
        for step in steps:
            if not isinstance(step, dict):
                continue
            if _is_tweakreg(step.get("class"), step.get("name")):
                block = step.get("parameters") or {}
                if not isinstance(block, dict):
                    raise InputError(f"{path}: the tweakreg step's 'parameters' is not a mapping")
                if block.get("skip"):
                    log.info("%s: the tweakreg step is marked skip=True in this pipeline file", path)
                return dict(block), extras
        names = ", ".join(str(s.get("name")) for s in steps if isinstance(s, dict))
        raise InputError(f"{path}: pipeline parameter file has no tweakreg step (steps: {names})")
    if not isinstance(params, dict):
        raise InputError(f"{path}: no 'parameters' block: not an stpipe parameter file")
    cls = tree.get("class") or params.get("class") or ""
    if cls and not _is_tweakreg(cls, None):
        raise InputError(f"{path}: parameters of {cls}, not of {JWST_STEP_CLASS}")
    return {k: v for k, v in params.items() if k not in ("class", "name")}, extras


def _is_tweakreg(cls, name) -> bool:
    return (isinstance(cls, str) and cls.rsplit(".", 1)[-1] == "TweakRegStep") or (
        isinstance(name, str) and name.lower() in ("tweakreg", "tweakregstep"))


def save_asdf_pars(params, path) -> Path:
    """Write a single-step stpipe parameter file for jwst's TweakRegStep.

    ``parameters`` holds every parameter of jwst's spec (jwst's
    ``TweakRegStep.from_config_file`` and ``strun --config`` accept the file);
    tweakgui-only parameters (``abs_mode``, ``exclusions``, ``wcsname``,
    ``reject_large_corrections``) and ``starfinder='sep'`` go to a top-level
    ``tweakgui`` block that stpipe ignores and :func:`load_asdf_pars` reads back.
    With ``starfinder='sep'`` jwst is told ``segmentation``, its nearest finder.

    Parameters
    ----------
    params : TweakRegParams or mapping
        The parameters (a mapping is validated through ``TweakRegParams``).
    path : str or Path
        Output file, written atomically.
    """
    import asdf

    params = _as_params(params)
    values = params.to_dict()
    jwst_pars, extras = {}, {}
    for name, value in values.items():
        if name in TWEAKGUI_ONLY:
            extras[name] = value
        elif value in TWEAKGUI_ONLY_CHOICES.get(name, ()):
            extras[name] = value
            jwst_pars[name] = "segmentation" if name == "starfinder" else SPEC_BY_NAME[name].default
            log.info("%s=%r is tweakgui only: jwst is given %s=%r", name, value, name, jwst_pars[name])
        elif SPEC_BY_NAME[name].choices and not isinstance(value, str):
            jwst_pars[name] = str(value)  # stpipe's option() compares strings
        else:
            jwst_pars[name] = value
    tree = {"class": JWST_STEP_CLASS, "name": "tweakreg", "parameters": jwst_pars, _EXTRAS_KEY: extras}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        asdf.AsdfFile(tree).write_to(tmp)
    return path


# ---------------------------------------------------------------------- cfg


def cfg_sections(path) -> list[str]:
    """Names of the visit sections of an INI cfg file (``[]`` for a sectionless file).

    A drizzlepac TEAL file (``_task_name_ = tweakreg``) counts as one section
    named after its task.
    """
    return cfg_format.read(path).sections


def load_cfg(path, section: str | None = None) -> dict[str, Any]:
    """Read one visit's parameters from an INI cfg file.

    Parameters
    ----------
    path : str or Path
        INI file with one section per visit (``[jw01345001001]``), optionally
        with keys before the first section that apply to every section; or a
        drizzlepac TEAL ``tweakreg.cfg`` / ``imagefindpars.cfg``.  ``#`` and
        ``;`` start comments (inline ones after a space).
    section : str, optional
        The section to read; may be omitted when the file has at most one.

    Returns
    -------
    dict
        tweakgui names to typed values.  drizzlepac and CEERS names are
        translated (see ``docs/parameters.md``); keys with no equivalent are
        dropped with a warning naming them.

    Raises
    ------
    InputError
        Missing or unparsable file.
    ParameterError
        Unknown or ambiguous section, or a value of the wrong type.
    """
    path = Path(path)
    ini = cfg_format.read(path)
    values = ini.values(section)
    where = f"{path} [{ini.chosen(section)}]" if ini.sections else str(path)
    raw = translate(values, CFG_ALIASES, where, teal=ini.teal)
    return _typed(raw, path)


def save_cfg(params, path, section: str) -> Path:
    """Write the parameters as section ``section`` of an INI cfg file.

    Every parameter is written, grouped as in :data:`SPEC`.  If ``path``
    exists, its other sections (and the text before them) are kept verbatim
    and a section of the same name is replaced.  The write is atomic.
    """
    params = _as_params(params)
    if not section or any(c in section for c in "[]\n"):
        raise ParameterError(f"bad cfg section name {section!r}")
    path = Path(path)
    body = cfg_format.format_section(section, params.to_dict())
    old = path.read_text() if path.is_file() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = cfg_format.replace_section(old, section, body)
    atomic_write_text(path, text)
    return path


# -------------------------------------------------------------- resolution


def load_params_file(path, section: str | None = None) -> dict[str, Any]:
    """Load an ASDF or cfg parameter file, chosen by extension (or content)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: parameter file not found")
    suffix = path.suffix.lower()
    if suffix == ".asdf":
        is_asdf = True
    elif suffix in (".cfg", ".ini"):
        is_asdf = False
    else:
        with open(path, "rb") as fh:
            is_asdf = fh.read(5) == b"#ASDF"
    if is_asdf:
        if section:
            log.warning("%s: section %r ignored for an ASDF parameter file", path, section)
        return load_asdf_pars(path)
    return load_cfg(path, section)


def resolve_params(config=None, section: str | None = None,
                   overrides: Mapping[str, Any] | None = None) -> TweakRegParams:
    """Build the run's parameters: defaults < ``config`` file < ``overrides``.

    Parameters
    ----------
    config : str or Path, optional
        An ASDF (``.asdf``) or INI (``.cfg``, ``.ini``) parameter file.
    section : str, optional
        The cfg section (visit) to use.
    overrides : mapping, optional
        Values from the command line (strings are converted).

    Raises
    ------
    ParameterError
        The message names the parameter and, when the file is at fault, the file.
    InputError
        The file is missing or unreadable.
    """
    overrides = dict(overrides or {})
    for name, value in overrides.items():
        try:
            coerce(name, value)
        except ParameterError as exc:
            raise ParameterError(f"--{name}: {exc}") from None
    from_file = load_params_file(config, section) if config is not None else {}
    if from_file.get("pixel_units") and "pixel_units" not in overrides:
        # a value given on the command line is in arcsec, whatever the file's unit
        kept = [n for n in from_file["pixel_units"].split(",") if n.strip() not in overrides]
        from_file = {**from_file, "pixel_units": ",".join(kept)}
    try:
        return TweakRegParams(**{**from_file, **overrides})
    except ParameterError as exc:
        if not config or _fails(overrides):
            raise ParameterError(f"command line: {exc}") from None
        if _fails(from_file):
            raise ParameterError(f"{config}: {exc}") from None
        raise ParameterError(f"{config} with command-line overrides: {exc}") from None


def _fails(values: dict) -> bool:
    try:
        TweakRegParams(**values)
    except ParameterError:
        return True
    return False


def parse_cli_overrides(argv) -> tuple[dict[str, str], list[str]]:
    """Split ``--<parameter> VALUE`` / ``--<parameter>=VALUE`` options off ``argv``.

    Only names of :data:`SPEC` are taken (``-`` may stand for ``_``); every other
    argument is returned in order in ``remaining``.  A boolean parameter takes
    the next argument when it is a truth word (``--use2dhist false``) and means
    ``true`` on its own.  Parsing stops at ``--``.

    Returns
    -------
    overrides : dict
        Parameter name to its string value (the last one given wins).
    remaining : list
        The arguments that are not parameter options.

    Raises
    ------
    ParameterError
        A non-boolean parameter option without a value.
    """
    overrides: dict[str, str] = {}
    remaining: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            remaining.extend(args[i - 1:])
            break
        if not arg.startswith("--"):
            remaining.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        spec = SPEC_BY_NAME.get(name)
        if spec is None:
            remaining.append(arg)
            continue
        if not eq:
            nxt = args[i] if i < len(args) else None
            if spec.type is bool:
                if nxt is not None and nxt.strip().lower() in _BOOL_WORDS:
                    value, i = nxt, i + 1
                else:
                    value = "true"
            elif nxt is None or (nxt.startswith("--") and len(nxt) > 2):
                raise ParameterError(f"--{name} needs a value")
            else:
                value, i = nxt, i + 1
        overrides[name] = value
    return overrides, remaining


_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0", "t", "f", "y", "n"}


# ------------------------------------------------------------------ helpers


def _typed(raw: dict, path: Path) -> dict[str, Any]:
    out = {}
    for spec in SPEC:
        if spec.name in raw:
            value = raw[spec.name]
            if isinstance(value, str) and not value.strip() and spec.type is not str:
                if not spec.allow_none:
                    log.warning("%s: '%s' has no value: ignored", path, spec.name)
                    continue
                value = None
            try:
                out[spec.name] = coerce(spec.name, value)
            except ParameterError as exc:
                raise ParameterError(f"{path}: {exc}") from None
    return out


def _as_params(params) -> TweakRegParams:
    if isinstance(params, TweakRegParams):
        return params
    return TweakRegParams(**dict(params))


def _plain(obj):
    """Tree → plain Python (numpy scalars and asdf lazy containers converted)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        return obj.item()
    return obj


def _oneline(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
