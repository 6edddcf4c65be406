"""The machine-readable JSON report of a run (DESIGN.md's contract).

Top level: ``report_version``, ``created`` (UTC), ``versions`` (tweakgui,
tweakwcs, photutils, astropy, numpy, gwcs, python), ``parameters``,
``abs_mode``, ``refcat`` (the reference catalog's name, epoch, and the
sources each selection step left), ``summary`` (counts per status) and ``images``, one entry per
input in user order with at least ``input``, ``output``, ``group_id``,
``status``, ``reason``, ``fitgeom``, ``nmatch``, ``shift_arcsec``,
``rotation_deg``, ``scale``, ``rmse_arcsec``, plus ``shift_pix``,
``skew_deg``, ``mae_arcsec``, ``fit_kind``, ``chips``, ``extra_outputs`` and
the list of every ``fits`` that moved the image.

Every number of an image entry is the image's own: ``shift_*``,
``rotation_deg`` and ``scale`` are its total correction (all stages) at its
reference pixel (``correction`` says where and in which frame); ``nmatch``,
``nused``, ``rmse_arcsec`` and ``mae_arcsec`` count its own matches in its
last fit, and each entry of ``fits`` carries the image's own numbers beside
the group's (``group_nmatch``...) with the fit's verdict (``matcher``,
``significance``, ``n_chance``, ``checks``).  Numbers that are not
finite are written as ``null`` (strict JSON).  A FAILED image has ``null``
shift, rotation, scale and rmse; a REFERENCE image that was not fitted has
the identity (zero shift, scale 1).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from tweakgui import __version__
from tweakgui.engine.io.atomic import atomic_write_text, check_writable_dir
from tweakgui.engine.model import (
    STATUS_FAILED,
    STATUS_REFERENCE,
    STATUS_SUCCESS,
    FitResult,
    ImageResult,
    VisitResult,
)

__all__ = ["REPORT_VERSION", "versions", "report_dict", "write_report", "jsonable"]

REPORT_VERSION = 1
_PACKAGES = ("tweakwcs", "photutils", "astropy", "numpy", "gwcs")


def versions() -> dict[str, str | None]:
    """Versions of tweakgui, the libraries that shape the result, and Python."""
    out: dict[str, str | None] = {"tweakgui": __version__}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def jsonable(value: Any) -> Any:
    """Convert to plain JSON types; NaN and infinities become None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)


def _params(params: Any) -> dict:
    if params is None:
        return {}
    if hasattr(params, "to_dict"):
        return jsonable(params.to_dict())
    return jsonable(params if isinstance(params, dict) else vars(params))


def _fit_dict(f: FitResult) -> dict:
    return {
        "group_id": f.group_id, "kind": f.kind, "status": f.status, "reason": f.reason,
        "fitgeom": f.fitgeom, "nmatch": f.nmatch,
        "shift_arcsec": list(f.shift_arcsec), "shift_pix": list(f.shift_pix),
        "rotation_deg": f.rotation_deg, "proper_rot_deg": f.proper_rot_deg, "scale": f.scale,
        "skew_deg": f.skew_deg, "rmse_arcsec": f.rmse_arcsec, "mae_arcsec": f.mae_arcsec,
        "matrix": f.matrix, "hist_peak_arcsec": f.hist_peak_arcsec,
        "matcher": f.matcher, "nused": f.nused, "match_radius_arcsec": f.match_radius_arcsec,
        "n_chance": f.n_chance, "significance": f.significance, "checks": f.checks,
        "ref_epoch": f.ref_epoch,
    }


def _image_fit_dict(f: FitResult, image: str) -> dict:
    """A stage's fit as one image sees it: the group's fit, with the image's own matches."""
    d = _fit_dict(f)
    own = f.image_numbers(image)
    d.update(group_nmatch=f.nmatch, group_nused=f.nused, group_rmse_arcsec=f.rmse_arcsec,
             group_mae_arcsec=f.mae_arcsec, **own)
    return d


def _correction_dict(r: ImageResult) -> dict | None:
    c = r.correction
    if c is None:
        return None
    return {"ref_pixel": list(c.ref_pixel), "ref_ra": c.ref_ra, "ref_dec": c.ref_dec,
            "shift_arcsec": list(c.shift_arcsec), "shift_pix": list(c.shift_pix),
            "rotation_deg": c.rotation_deg, "scale": c.scale,
            "frame": "shift: (ΔRA·cos δ, ΔDec) arcsec and detector (x, y) pixels of the reference pixel's "
                     "move, new − old; rotation counter-clockwise from east toward north"}


def _image_dict(r: ImageResult) -> dict:
    exp = r.exposure
    fit = r.fit if r.fit is not None else (r.fits[-1] if r.fits else None)
    d: dict[str, Any] = {
        "input": str(exp.path), "output": None if r.output is None else str(r.output),
        "group_id": exp.group_id, "group_source": exp.meta.get("group_source", "file"),
        "status": r.status, "reason": r.reason,
        "fitgeom": None, "nmatch": 0, "nused": 0, "fit_kind": None,
        "shift_arcsec": None, "shift_pix": None, "rotation_deg": None, "scale": None,
        "skew_deg": None, "rmse_arcsec": None, "mae_arcsec": None,
        "correction": _correction_dict(r),
        "chips": [c.name for c in exp.chips],
        "extra_outputs": [str(p) for p in r.extra_outputs],
        "has_pixels": exp.has_pixels,
        "fits": [_image_fit_dict(f, exp.name) for f in r.fits],
    }
    if exp.meta.get("catalog_input"):  # a catalog input: where its starting WCS was read
        d["wcs_source"] = exp.meta.get("wcs_source")
    if fit is not None:
        own = fit.image_numbers(exp.name)
        d.update(fitgeom=fit.fitgeom or None, nmatch=own["nmatch"], nused=own["nused"], fit_kind=fit.kind)
    if r.status == STATUS_FAILED:
        return d
    c = r.correction
    if c is not None:
        # the image's own total correction of every stage, at its reference pixel
        d.update(shift_arcsec=list(c.shift_arcsec), shift_pix=list(c.shift_pix), rotation_deg=c.rotation_deg,
                 scale=c.scale)
    if fit is not None and fit.status == STATUS_SUCCESS:  # ``own`` counted above
        d.update(skew_deg=fit.skew_deg, rmse_arcsec=own["rmse_arcsec"], mae_arcsec=own["mae_arcsec"])
        if c is None:  # a result made without the engine's total (older sessions): the fit's numbers
            d.update(shift_arcsec=list(fit.shift_arcsec), shift_pix=list(fit.shift_pix),
                     rotation_deg=fit.rotation_deg, scale=fit.scale)
    elif r.status == STATUS_REFERENCE and c is None:
        d.update(shift_arcsec=[0.0, 0.0], shift_pix=[0.0, 0.0], rotation_deg=0.0, scale=1.0, skew_deg=0.0)
    return d


def _refcat_dict(ref) -> dict | None:
    """The reference catalog used: name, epoch of its positions, the sources each selection step left."""
    if ref is None:
        return None
    meta = ref.meta
    return {"name": meta.get("name"), "epoch": meta.get("epoch"), "n_sources": len(ref),
            "magcol": meta.get("magcol"), "errcols": meta.get("errcols"),
            "proper_motions": "pmra" in ref.colnames,
            "selection": [{"step": step, "n_sources": n} for step, n in meta.get("selection", [])]}


def report_dict(visit_result: VisitResult) -> dict:
    """The report as a JSON-ready dict."""
    images = [_image_dict(r) for r in visit_result.images]
    counts = {s: sum(1 for r in visit_result.images if r.status == s)
              for s in (STATUS_SUCCESS, STATUS_REFERENCE, STATUS_FAILED)}
    return jsonable({
        "report_version": REPORT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "parameters": _params(visit_result.params),
        "abs_mode": visit_result.abs_mode,
        "refcat": _refcat_dict(visit_result.refcat),
        "summary": {"n_images": len(images), **{k.lower(): v for k, v in counts.items()}},
        "images": images,
        "fits": [_fit_dict(f) for f in visit_result.fits],
    })


def write_report(visit_result: VisitResult, path: str | Path) -> Path:
    """Write the JSON report atomically; return its path (also stored in ``report_path``)."""
    path = Path(path)
    check_writable_dir(path.parent, create=True)
    text = json.dumps(report_dict(visit_result), indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text)
    visit_result.report_path = path
    return path
