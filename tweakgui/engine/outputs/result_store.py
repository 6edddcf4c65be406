"""A run's results in one ASDF file, to reopen a session as it was saved.

Catalogs, fits (with their matches and candidate offsets), verdicts, the new
WCS of every chip and each image's total correction are stored; exposures are
stored by name and bound again to the loaded visit on reading.  The inputs'
size and modification time and the run's parameters are stored too, so a
reader can tell results that no longer follow from the inputs (stale).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from tweakgui.engine import model

log = logging.getLogger(__name__)

__all__ = ["write_results", "read_results", "fingerprint", "StoredResults"]

FORMAT = "tweakgui-results"
_TUPLES = ("shift_arcsec", "shift_pix", "hist_peak_arcsec")


def fingerprint(visit) -> dict:
    """{exposure name: [path, size, mtime]} of the inputs."""
    out = {}
    for e in visit.exposures if visit is not None else []:
        try:
            st = Path(e.path).stat()
            out[e.name] = [str(e.path), int(st.st_size), float(st.st_mtime)]
        except OSError:
            out[e.name] = [str(e.path), -1, -1.0]
    return out


class _Unstorable(TypeError):
    """A value with no ASDF form (left out of the file)."""


def _encode(v):
    """Values asdf writes: Tables and arrays as they are, numpy scalars as Python, tuples as
    lists, dataclasses of the engine (e.g. a fit's Histogram) as tagged dicts."""
    from astropy.table import Table

    if v is None or isinstance(v, (str, bool, int, float, Table, np.ndarray)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    if dataclasses.is_dataclass(v) and not isinstance(v, type) and type(v).__module__.startswith(_SAFE):
        return {"__dataclass__": f"{type(v).__module__}:{type(v).__qualname__}",
                "fields": {f.name: _encode(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    raise _Unstorable(type(v).__name__)


def _decode(v):
    """The inverse of :func:`_encode`; only dataclasses of tweakgui's engine are rebuilt."""
    import importlib

    if isinstance(v, dict) and "__dataclass__" in v:
        module, _sep, name = str(v["__dataclass__"]).partition(":")
        if not module.startswith(_SAFE):
            raise ValueError(f"refusing to rebuild {module}:{name}")
        cls = getattr(importlib.import_module(module), name)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _decode(x) for k, x in v["fields"].items() if k in known})
    if isinstance(v, dict):
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


_SAFE = "tweakgui.engine"


def _fit_tree(f: model.FitResult) -> dict:
    d = {}
    for fl in dataclasses.fields(f):
        try:
            d[fl.name] = _encode(getattr(f, fl.name))
        except _Unstorable as exc:
            log.debug("fit field %s not stored (%s)", fl.name, exc)
    return {k: v for k, v in d.items() if v is not None}


def write_results(result: model.VisitResult, path, visit=None) -> Path:
    """Write ``result`` to ``path`` (ASDF), atomically."""
    import asdf

    from tweakgui.engine.io.atomic import atomic_write_bytes

    fits = list(result.fits)
    index = {id(f): i for i, f in enumerate(fits)}
    images = []
    for r in result.images:
        for f in r.fits:  # fits only an image knows (none expected, but keep them)
            if id(f) not in index:
                index[id(f)] = len(fits)
                fits.append(f)
        images.append({
            "name": r.exposure.name, "status": r.status, "reason": r.reason,
            "fits": [index[id(f)] for f in r.fits],
            "new_wcs": list(r.new_wcs) if r.new_wcs else None,
            "catalogs": list(r.catalogs),
            "correction": _encode(dataclasses.asdict(r.correction)) if r.correction is not None else None,
            "output": str(r.output) if r.output else None,
        })
    tree = {"format": FORMAT, "images": images, "fits": [_fit_tree(f) for f in fits],
            "params": result.params.to_dict() if hasattr(result.params, "to_dict") else {},
            "refcat": result.refcat, "abs_mode": result.abs_mode, "log": list(result.log),
            "inputs": fingerprint(visit)}
    import io

    buf = io.BytesIO()
    asdf.AsdfFile({k: v for k, v in tree.items() if v is not None}).write_to(buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


@dataclasses.dataclass
class StoredResults:
    """Results read back: the VisitResult and why they may be stale ("" if not)."""

    result: model.VisitResult
    stale: str


def read_results(path, visit, params) -> StoredResults:
    """The results of ``path`` bound to ``visit``'s exposures; ``stale`` says what changed
    (inputs modified or missing, parameters other than ``params``)."""
    import asdf

    from tweakgui.engine.params.spec import TweakRegParams

    with asdf.open(path, lazy_load=False, memmap=False) as af:
        tree = af.tree
        if tree.get("format") != FORMAT:
            raise ValueError(f"{path}: not a tweakgui results file")
        known = {f.name for f in dataclasses.fields(model.FitResult)}
        fits = [_fit_from_tree(d, known) for d in tree["fits"]]
        images, missing = _images_from_tree(tree["images"], visit, fits)
        saved_params = TweakRegParams(**dict(tree.get("params", {})))
        refcat = tree.get("refcat")
        result = model.VisitResult(images, fits, saved_params,
                                   refcat=refcat.copy() if refcat is not None else None,
                                   abs_mode=tree.get("abs_mode", ""), log=list(tree.get("log", [])))
        saved_inputs = dict(tree.get("inputs", {}))
    return StoredResults(result, _stale_reasons(visit, params, saved_params, saved_inputs, missing))


def _fit_from_tree(d, known: set) -> model.FitResult:
    # fields of another version of tweakgui are left out
    d = {k: _decode(v) for k, v in dict(d).items() if k in known}
    for k in _TUPLES:
        if d.get(k) is not None:
            d[k] = tuple(d[k])
    for k in ("offsets", "matrix"):
        if d.get(k) is not None:
            d[k] = np.asarray(d[k])
    if d.get("matches") is not None:
        d["matches"] = d["matches"].copy()
    d["images"] = list(d.get("images", []))
    d["checks"] = dict(d.get("checks", {}))
    return model.FitResult(**d)


def _images_from_tree(entries, visit, fits) -> tuple[list, list]:
    """The stored image results of the exposures loaded now, and the names of those not loaded."""
    by_name = {e.name: e for e in visit.exposures}
    images, missing = [], []
    for d in entries:
        e = by_name.get(d["name"])
        if e is None:
            missing.append(d["name"])
            continue
        corr = d.get("correction")
        if corr is not None:
            corr = model.Correction(**{k: tuple(v) if isinstance(v, list) else v for k, v in corr.items()})
        images.append(model.ImageResult(
            e, d["status"], d.get("reason", ""), fits=[fits[i] for i in d["fits"]],
            new_wcs=list(d["new_wcs"]) if d.get("new_wcs") else None,
            catalogs=[c.copy() for c in d.get("catalogs", [])],
            output=Path(d["output"]) if d.get("output") else None, correction=corr))
    return images, missing


def _stale_reasons(visit, params, saved_params, saved_inputs: dict, missing: list) -> str:
    reasons = []
    now = fingerprint(visit)
    changed = [n for n, fp in saved_inputs.items() if n in now and list(fp)[1:] != now[n][1:]]
    if changed:
        reasons.append("inputs modified since: " + ", ".join(changed))
    if missing:
        reasons.append("not loaded now: " + ", ".join(missing))
    added = [n for n in now if n not in saved_inputs and saved_inputs]
    if added:
        reasons.append("images added since: " + ", ".join(added))
    if params is not None and saved_params != params:
        diff = [f.name for f in dataclasses.fields(params) if getattr(params, f.name) != getattr(saved_params, f.name)]
        reasons.append("parameters changed since: " + ", ".join(diff))
    return "; ".join(reasons)
