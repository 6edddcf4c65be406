"""Save and reopen a session as one JSON file.

A session holds what a person decided: inputs in their order, parameters,
group and catalog overrides, regions per chip, excluded matches, accepted
images, and a summary of the last results.  Reopening loads the inputs and
restores the rest; running again reproduces the results.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from tweakgui import __version__
from tweakgui.engine.detect.exclusion_keys import SourceExclusion
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.gui.region_shapes import Shape

log = logging.getLogger(__name__)

__all__ = ["session_to_dict", "write_session", "read_session", "results_summary", "results_path_for"]

FORMAT = "tweakgui-session"
FORMAT_VERSION = 1


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def results_summary(result) -> list[dict]:
    """Per image: status, reason and the numbers of its fit."""
    out = []
    for r in result.images if result is not None else []:
        d = {"image": r.exposure.name, "group_id": r.exposure.group_id, "status": r.status,
             "reason": r.reason}
        f = r.fit
        if f is not None:
            d.update(kind=f.kind, fitgeom=f.fitgeom, nmatch=int(f.nmatch),
                     shift_arcsec=[_num(v) for v in f.shift_arcsec],
                     rotation_deg=_num(f.rotation_deg), scale=_num(f.scale),
                     rmse_arcsec=_num(f.rmse_arcsec))
        out.append(d)
    return out


def session_to_dict(ctl) -> dict:
    """The state of a :class:`SessionController` as plain JSON-able data."""
    exposures = ctl.visit.exposures if ctl.visit is not None else []
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "tweakgui": __version__,
        # the specs as given (an ASN keeps its groups and catalogs), minus removed images,
        # in the order shown
        "inputs": list(ctl.inputs),
        "removed": sorted(ctl.removed),
        "order": [e.name for e in exposures],
        "params": ctl.params.to_dict(),
        "group_ids": dict(ctl.group_overrides),
        "catalogs": dict(ctl.catalog_overrides),
        "regions": [{"image": k[0], "chip": k[1], "shapes": [s.to_dict() for s in v]}
                    for k, v in sorted(ctl.regions.items())],
        # exclusions are kept by the source's sky position (rows change on re-detection);
        # "excluded" holds their rows in the saved results, for reading only
        "exclusions": [x.to_dict() for x in ctl.exclusions],
        "excluded": [list(k) for k in sorted(ctl.excluded)],
        "accepted": dict(ctl.accepted),
        "results": results_summary(ctl.result) if ctl.result is not None
        else (ctl.session_summary or []),
    }


def results_path_for(path: str | Path) -> Path:
    """The results file beside a session file: ``visit.tweakgui.json`` → ``visit.tweakgui.results.asdf``."""
    path = Path(path)
    name = path.name[:-5] if path.name.endswith(".json") else path.name
    return path.with_name(name + ".results.asdf")


def write_session(ctl, path: str | Path) -> Path:
    """Write the session atomically, and its results beside it; returns the path."""
    from tweakgui.engine.io.atomic import atomic_write_text
    from tweakgui.engine.outputs.result_store import write_results

    path = Path(path)
    d = session_to_dict(ctl)
    if ctl.result is not None:
        rp = results_path_for(path)
        write_results(ctl.result, rp, ctl.visit)
        d["results_file"] = rp.name
        # results that were stale when saved stay marked so on reopening
        d["stale"] = ctl.stale
    atomic_write_text(path, json.dumps(d, indent=1) + "\n")
    return path


def read_session(path: str | Path) -> dict:
    """Read and check a session file; ValueError with one line naming the file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read session ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"{path}: not a tweakgui session file")
    try:
        d["params"] = TweakRegParams(**d.get("params", {}))
        d["regions"] = {(r["image"], r["chip"]): [Shape.from_dict(s) for s in r["shapes"]]
                        for r in d.get("regions", [])}
        d["exclusions"] = [SourceExclusion.from_dict(x) for x in d.get("exclusions", [])]
        d["excluded"] = {(str(a), str(b), int(c)) for a, b, c in d.get("excluded", [])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad session content ({exc})") from None
    # relative input paths are relative to the session file
    d["inputs"] = [_resolve(p, path.parent) for p in d.get("inputs", [])]
    rf = d.get("results_file")
    d["results_file"] = (path.parent / rf) if rf and (path.parent / rf).is_file() else None
    return d


def _resolve(spec: str, base: Path) -> str:
    """A relative input spec (file, wildcard, @list) relative to the session file."""
    at = spec.startswith("@")
    p = Path(spec[1:] if at else spec)
    full = str(p if p.is_absolute() else base / p)
    return ("@" if at else "") + full


def apply_session(ctl, d: dict) -> None:
    """Restore a read session into a controller and start loading its inputs."""
    ctl.params = d["params"]
    ctl.group_overrides = dict(d.get("group_ids", {}))
    ctl.catalog_overrides = dict(d.get("catalogs", {}))
    ctl.regions = dict(d["regions"])
    ctl.exclusions = list(d["exclusions"])
    ctl.exclusion_rows, ctl.dropped = {}, []
    if d["excluded"] and not d["exclusions"]:
        log.warning("%d exclusions of an older session are kept by catalog row only: "
                    "exclude those sources again", len(d["excluded"]))
    ctl.accepted = {k: bool(v) for k, v in d.get("accepted", {}).items()}
    ctl.rejected = {k for k, v in ctl.accepted.items() if not v}
    ctl.selected = None
    ctl.view.show_params(ctl.params)
    ctl.results_path = d.get("results_file")
    ctl.saved_stale = str(d.get("stale") or "")
    ctl.set_inputs(d["inputs"])
    ctl.removed = set(d.get("removed", []))
    ctl.order = list(d.get("order", []))
    ctl.session_summary = d.get("results") or None
