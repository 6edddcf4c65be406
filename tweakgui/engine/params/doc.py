"""The parameter reference (``docs/parameters.md``), generated from the model.

Run ``python -m tweakgui.engine.params.doc > docs/parameters.md`` after changing
:data:`~tweakgui.engine.params.spec.SPEC` or the alias tables; a test fails while the
checked-in file differs from :func:`render_parameter_reference`.
"""

from __future__ import annotations

import math
import sys

from tweakgui.engine.params.aliases import (
    CEERS_ALIASES,
    DRIZZLEPAC_ALIASES,
    JWST_LEGACY_ALIASES,
    STPIPE_GENERIC,
    Alias,
)
from tweakgui.engine.params.spec import (
    GROUPS,
    SPEC,
    TWEAKGUI_ONLY,
    TWEAKGUI_ONLY_CHOICES,
    ParamSpec,
)

__all__ = ["render_parameter_reference", "REGENERATE"]

REGENERATE = "python -m tweakgui.engine.params.doc > docs/parameters.md"

_GROUP_TITLES = {
    "catalogs": "Source catalogs",
    "finder": "Source finding",
    "background": "Background",
    "matching": "Matching (relative alignment)",
    "fit": "Fit",
    "absolute": "Absolute alignment",
    "refcat": "Reference catalog (absolute alignment)",
    "sip": "SIP approximation of the GWCS (JWST outputs)",
    "drizzlepac": "drizzlepac options",
}
_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "float list"}

_INTRO = f"""\
# Parameter reference

<!-- Generated from tweakgui/engine/params/spec.py and aliases.py: do not edit.
     Regenerate with: {REGENERATE} -->

Every parameter is set in one of three places, later ones winning:

1. the defaults below;
2. a parameter file given with `--config FILE`: an stpipe ASDF parameter file
   (`.asdf`, as written by `strun --save-parameters` or by tweakgui) or an INI cfg file
   (`.cfg`, `.ini`) with one section per visit (choose it with `--section NAME` when the file
   has several);
3. `--<name> VALUE` (or `--<name>=VALUE`) on the command line; a boolean may be given
   alone (`--use2dhist`) or with a value (`--use2dhist false`).

Names and defaults are those of jwst's `TweakRegStep` (jwst 3.0); parameters marked
*tweakgui* are not in jwst. Radii, tolerances and offsets are in arcsec.
Values are checked when the parameters are built, and an error names the parameter.
Besides the limits in the tables, `separation` must exceed `sqrt(2) * tolerance` and
`abs_separation` must exceed `sqrt(2) * abs_tolerance` (as in jwst, to avoid source confusion).
"""

_FILES = """\
## Parameter files

**ASDF.** tweakgui reads the `parameters` of a single-step file or the `tweakreg` block
(class `jwst.tweakreg.tweakreg_step.TweakRegStep`) of a pipeline file such as an
`image3` parameter file. stpipe's own options ({generic}) are ignored.
tweakgui writes a single-step file that jwst's `strun --config` and
`TweakRegStep.from_config_file` accept: the jwst parameters under `parameters`, the
*tweakgui* ones in a separate top-level `tweakgui` block, which stpipe ignores.

**cfg.** One INI section per visit, e.g. `[jw01345001001]`; keys before the first
section apply to every section; `#` and `;` start comments. A drizzlepac TEAL file
(`tweakreg.cfg`, `imagefindpars.cfg`, recognised by its `_task_name_`) is read as one
parameter set. Names of drizzlepac, CEERS and old jwst versions are translated with the
tables below; names without an equivalent are reported and ignored.

A file may load and still be refused when the parameters are built. CEERS'
`nircam1/f200w.cfg`, for instance, has `abs_separation = 0.5` and `abs_tolerance = 0.4`,
and 0.5 < sqrt(2) * 0.4 = 0.566, so tweakgui (like jwst) stops with an error naming the
file and `abs_separation`. Override one of the two, e.g. `--abs_tolerance 0.3`.
"""


def render_parameter_reference() -> str:
    """The Markdown parameter reference: one table per group, then the migration tables.

    Returns
    -------
    str
        The text of ``docs/parameters.md``.
    """
    parts = [_INTRO]
    for group in GROUPS:
        rows = [_param_row(s) for s in SPEC if s.group == group]
        title = _GROUP_TITLES.get(group, group.capitalize())
        parts.append(f"## {title}\n\n" + _table(
            ("Parameter", "Type", "Default", "Allowed values", "Meaning"), rows))
    parts.append(_FILES.format(generic=", ".join(f"`{k}`" for k in sorted(STPIPE_GENERIC))))
    parts.append(_migration())
    parts.append(_other_names())
    return "\n".join(parts)


def _param_row(spec: ParamSpec) -> tuple[str, ...]:
    meaning = spec.doc.rstrip(".")
    if spec.finders is not None:
        meaning += f". Used by: {', '.join(spec.finders)}"
    name = f"`{spec.name}`" + (" *tweakgui*" if spec.name in TWEAKGUI_ONLY else "")
    return (name, _TYPES[spec.type], _value(spec.default), _allowed(spec), meaning)


def _value(value) -> str:
    if value is None:
        return "`None`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "`''`"
    return f"`{value!r}`" if isinstance(value, float) else f"`{value}`"


def _allowed(spec: ParamSpec) -> str:
    if spec.choices is not None:
        extra = TWEAKGUI_ONLY_CHOICES.get(spec.name, ())
        text = ", ".join(f"`{c}`" + (" *tweakgui*" if c in extra else "") for c in spec.choices)
    elif spec.type in (int, float) and (spec.min is not None or spec.max is not None):
        lo = "" if spec.min is None else f"{'>' if spec.min_exclusive else '>='} {_num(spec.min)}"
        hi = "" if spec.max is None else f"<= {_num(spec.max)}"
        text = ", ".join(t for t in (lo, hi) if t)
    elif spec.type is list:
        text = "2 or 3 numbers"
    elif spec.type is bool:
        text = "true, false"
    else:
        text = ""
    if spec.allow_none:
        text = f"{text} or `None`" if text else "`None` or any"
    return text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and math.isfinite(x) else f"{x:g}"


def _migration() -> str:
    rows = []
    for a in DRIZZLEPAC_ALIASES:
        jwst = f"`{a.target}`" if a.target and a.target not in TWEAKGUI_ONLY else "n/a"
        ours = f"`{a.target}`" if a.target else (a.cli or "n/a")
        rows.append((f"`{a.source}`", jwst, ours, a.note))
    head = ("## Migration from drizzlepac TweakReg and jwst TweakRegStep\n\n"
            "Every parameter of jwst's `TweakRegStep` has the same name and default in "
            "tweakgui. drizzlepac's `TweakReg` parameters (`tweakreg.cfg` and "
            "`imagefindpars`) map as follows; `n/a` means there is no such parameter.\n\n")
    return head + _table(("drizzlepac TweakReg", "jwst TweakRegStep", "tweakgui", "Notes"), rows)


def _other_names() -> str:
    def rows(table: tuple[Alias, ...]):
        return [(f"`{a.source}`", f"`{a.target}`" if a.target else "ignored", a.note) for a in table]

    return ("## Other names read from parameter files\n\n"
            "CEERS per-visit cfg files (SExtractor-style names):\n\n"
            + _table(("Name", "tweakgui", "Notes"), rows(CEERS_ALIASES))
            + "\nOlder jwst versions:\n\n"
            + _table(("Name", "tweakgui", "Notes"), rows(JWST_LEGACY_ALIASES)))


def _table(header: tuple[str, ...], rows) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    out = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_parameter_reference())
