"""Writing aligned JWST images and WCS files; applying saved WCS files to images.

* :func:`write_jwst_tweaked` writes ``<root>_tweakreg.fits``: the input
  datamodel with the corrected GWCS (the correction is the ``v2v3corr``
  step that tweakwcs' JWST corrector inserts, or updates when the input
  already had one), ``wcs.name = FIT-LVL3-<catalog>`` after an absolute fit
  (as jwst names it), ``meta.wcsinfo`` with a refreshed FITS SIP
  approximation and ``s_region``.
* :func:`write_wcs_file` writes ``<root>_tweakreg.asdf`` holding
  ``{filename, wcs, wcsinfo}``, the layout of CEERS' published WCS files.
* :func:`apply_wcs` puts saved WCS files back into images (CEERS'
  ``updatewcs.py`` use case); :func:`apply_wcs_main` is its command line.

Every file is written to a temporary name in the target directory and
renamed over the target (see :mod:`tweakgui.engine.io.atomic`).  An in-place
write first archives the GWCS it replaces inside the same file (see
:mod:`tweakgui.engine.outputs.jwst_history`), so ``tweakgui restore`` can bring it back.
"""

from __future__ import annotations

import argparse
import glob
import io
import logging
import sys
import warnings
import weakref
from pathlib import Path

import asdf
import numpy as np

from tweakgui.engine.geometry import gwcs_forward, pixel_bounds
from tweakgui.engine.io.atomic import OutputError, atomic_write_bytes, check_writable_dir
from tweakgui.engine.io.jwst import jwst_root, open_model, read_wcs_file
from tweakgui.engine.model import STATUS_SUCCESS, ImageResult, InputError
from tweakgui.engine.outputs.jwst_history import archive_model_wcs, save_model_atomic
from tweakgui.engine.outputs.sip_reuse import sip_header
from tweakgui.engine.refcat.gaia import GAIA_CATALOGS

__all__ = [
    "GAIA_CATALOGS",
    "fit_wcs_name",
    "sip_wcsinfo",
    "s_region",
    "write_jwst_tweaked",
    "write_wcs_file",
    "wcs_file_parts",
    "wcs_file_bytes",
    "remember_wcsinfo",
    "apply_wcs",
    "apply_wcs_main",
]

log = logging.getLogger(__name__)

_MAX_SIP_DEGREE = 6
_SIP_PREFIXES = ("a_", "b_", "ap_", "bp_")
_DROP_KEYS = ("naxis", "cdelt1", "cdelt2", "pc1_1", "pc1_2", "pc2_1", "pc2_2")
# wcsinfo keys computed per image; others (v2_ref, roll_ref, ...) are kept
_wcsinfo_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fit_wcs_name(abs_refcat: str) -> str:
    """jwst's name of an absolutely aligned WCS: ``FIT-LVL3-GAIADR3``, ``FIT-LVL3-USERCAT``."""
    cat = (abs_refcat or "").strip()
    return f"FIT-LVL3-{cat.upper()}" if cat.upper() in GAIA_CATALOGS else "FIT-LVL3-USERCAT"


def _has_absolute_fit(result: ImageResult) -> bool:
    return any(f.kind == "absolute" and f.status == STATUS_SUCCESS for f in result.fits)


def s_region(wcs) -> str:
    """``POLYGON ICRS`` string of the corners of the WCS bounding box (pixel edges)."""
    box = pixel_bounds(wcs)
    if box is None or getattr(wcs.output_frame, "naxes", 2) != 2:
        fp = np.asarray(wcs.footprint(center=False))
    else:  # gwcs' footprint, clockwise from the bottom left, without building the forward transform
        x0, x1, y0, y1 = box
        fp = np.column_stack(gwcs_forward(wcs)(np.array([x0, x0, x1, x1]), np.array([y0, y1, y1, y0]))[:2])
    ra = np.mod(fp[:, 0], 360.0)
    return "POLYGON ICRS  " + " ".join(f"{r:.9f} {d:.9f}" for r, d in zip(ra, fp[:, 1]))


def sip_wcsinfo(wcs, wcsinfo: dict, params) -> dict:
    """``wcsinfo`` updated for ``wcs``: S_REGION and, when enabled, the FITS SIP keys.

    The SIP fit uses :meth:`gwcs.wcs.WCS.to_fits_sip` with the ``sip_*``
    parameters; the reference pixel of the existing ``crpix1/2`` is kept.
    When the fit fails its accuracy goals the old SIP keys are kept and a
    warning is logged (as jwst does).
    """
    try:
        cached = _wcsinfo_cache.get(wcs)
    except TypeError:
        cached = None
    if cached is not None and cached[0] == _sip_key(params):
        return dict(cached[1])
    out = dict(wcsinfo)
    out["s_region"] = s_region(wcs)
    if params is None or params.sip_approx:
        out = _refresh_sip(wcs, out, params)
    try:
        _wcsinfo_cache[wcs] = (_sip_key(params), dict(out))
    except TypeError:
        pass
    return out


def remember_wcsinfo(wcs, params, wcsinfo: dict) -> None:
    """Keep ``wcsinfo`` as :func:`sip_wcsinfo`'s answer for ``wcs`` (computed in another process)."""
    try:
        _wcsinfo_cache[wcs] = (_sip_key(params), dict(wcsinfo))
    except TypeError:
        pass


def _sip_key(params):
    if params is None:
        return None
    return tuple(getattr(params, k) for k in ("sip_approx", "sip_degree", "sip_max_pix_error",
                                               "sip_inv_degree", "sip_max_inv_pix_error",
                                               "sip_npoints"))


def _refresh_sip(wcs, wcsinfo: dict, params) -> dict:
    def degrees(value):
        return range(1, _MAX_SIP_DEGREE + 1) if value is None else int(value)

    crpix = [wcsinfo.get("crpix1"), wcsinfo.get("crpix2")]
    kw = {
        "max_pix_error": getattr(params, "sip_max_pix_error", 0.01),
        "degree": degrees(getattr(params, "sip_degree", None)),
        "max_inv_pix_error": getattr(params, "sip_max_inv_pix_error", 0.01),
        "inv_degree": degrees(getattr(params, "sip_inv_degree", None)),
        "npoints": getattr(params, "sip_npoints", 12),
        "crpix": None if None in crpix else crpix,
        "projection": "TAN",
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdr = sip_header(wcs, kw)
        for w in {str(c.message) for c in caught}:
            log.warning("SIP approximation: %s", w)
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        log.warning("SIP approximation of the new WCS failed (%s); meta.wcsinfo keeps the old "
                    "SIP keys", exc.args[0] if exc.args else exc)
        return wcsinfo
    out = {k: v for k, v in wcsinfo.items()
           if not k.startswith(_SIP_PREFIXES) and k not in _DROP_KEYS}
    for key, value in hdr.items():
        k = key.lower()
        if k.startswith("naxis") or k in ("", "comment", "history"):
            continue
        out[k] = value.item() if isinstance(value, np.generic) else value
    return out


def _set_wcsinfo(model, wcsinfo: dict) -> None:
    inst = model.meta.wcsinfo.instance
    for k in list(inst):
        if k.startswith(_SIP_PREFIXES) or k in _DROP_KEYS:
            del inst[k]
    for k, v in wcsinfo.items():
        if v is not None and not k.startswith("naxis"):
            inst[k] = v


def _save_model(model, target: Path) -> None:
    # through atomic_path: follows a symbolic link, keeps the replaced file's permissions
    save_model_atomic(model, target)


def _output_path(src: Path, root: str, output_dir, in_place: bool, ext=".fits") -> Path:
    if in_place:
        return src
    out = check_writable_dir(output_dir or ".", create=True) / f"{root}_tweakreg{ext}"
    if out.resolve() == src.resolve():
        raise OutputError(f"{out}: output would overwrite its input; use in_place to allow it")
    return out


def write_jwst_tweaked(image_result: ImageResult, output_dir, params, in_place: bool = False) -> Path:
    """Write the aligned datamodel ``<output_dir>/<root>_tweakreg.fits`` (or the input itself).

    Parameters
    ----------
    image_result : ImageResult
        A JWST exposure's result; ``new_wcs[0]`` is the corrector's new GWCS
        (``None``: the WCS is unchanged, e.g. a failed fit).
    output_dir : str or Path
        The output directory (created if missing).
    params : TweakRegParams
        ``abs_refcat`` names the WCS; ``sip_*`` drive the SIP refresh.
    in_place : bool
        Overwrite the input file (atomically) instead.

    Returns
    -------
    Path
        The file written.
    """
    exp = image_result.exposure
    if exp.kind != "jwst":
        raise InputError(f"{exp.path}: not a JWST datamodel")
    src = Path(exp.path)
    out = _output_path(src, exp.root, output_dir, in_place)
    new = image_result.new_wcs[0] if image_result.new_wcs else None
    with open_model(src) as model:
        if new is not None:
            if in_place:  # saved in the same atomic replace as the new WCS
                archive_model_wcs(model, reason="align --in_place")
            if _has_absolute_fit(image_result):
                new.name = fit_wcs_name(params.abs_refcat)
            model.meta.wcs = new
            info = sip_wcsinfo(new, dict(model.meta.wcsinfo.instance), params)
            _set_wcsinfo(model, info)
            model.meta.cal_step.tweakreg = "COMPLETE"
        else:
            model.meta.cal_step.tweakreg = "SKIPPED"
        model.meta.filename = out.name
        _save_model(model, out)
    log.info("wrote %s", out)
    return out


def wcs_file_parts(image_result: ImageResult, params=None) -> tuple:
    """``(root, wcs, wcsinfo)`` of an image's WCS file: the new WCS, named after the fit, and the input's wcsinfo."""
    exp = image_result.exposure
    wcs = image_result.new_wcs[0] if image_result.new_wcs else exp.chips[0].wcs
    if _has_absolute_fit(image_result) and params is not None:
        wcs.name = fit_wcs_name(params.abs_refcat)
    return exp.root, wcs, dict(exp.chips[0].meta.get("wcsinfo", {}))


def wcs_file_bytes(root: str, wcs, wcsinfo: dict) -> bytes:
    """The content of ``<root>_tweakreg.asdf``: ``{filename, wcs, wcsinfo}`` (see :func:`sip_wcsinfo`)."""
    tree = {"filename": f"{root}_tweakreg.fits", "wcs": wcs, "wcsinfo": wcsinfo}
    buf = io.BytesIO()
    asdf.AsdfFile(tree).write_to(buf)
    return buf.getvalue()


def write_wcs_file(image_result: ImageResult, output_dir, params=None, content: bytes | None = None) -> Path:
    """Write ``<output_dir>/<root>_tweakreg.asdf`` with ``{filename, wcs, wcsinfo}``.

    ``filename`` is the name of the matching ``_tweakreg.fits`` output and
    ``wcsinfo`` the input's, updated for the new WCS (see :func:`sip_wcsinfo`).
    ``content``: the file's bytes when :func:`wcs_file_bytes` made them
    already (in another process: :mod:`tweakgui.engine.outputs.prepared`).
    """
    root, wcs, wcsinfo = wcs_file_parts(image_result, params)
    if content is None:
        content = wcs_file_bytes(root, wcs, sip_wcsinfo(wcs, wcsinfo, params))
    out = check_writable_dir(output_dir or ".", create=True) / f"{root}_tweakreg.asdf"
    atomic_write_bytes(out, content)
    log.info("wrote %s", out)
    return out


def _find_wcs_file(image: Path, wcs_dir: Path) -> Path:
    root = jwst_root(image)
    candidate = wcs_dir / f"{root}_tweakreg.asdf"
    if candidate.is_file():
        return candidate
    # CEERS names WCS files after the image root; accept other suffixes too
    matches = sorted(p for p in wcs_dir.glob(f"{root}_*.asdf"))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"{image}: no WCS file {candidate.name} in {wcs_dir}")
    raise InputError(f"{image}: several WCS files match in {wcs_dir}: "
                     f"{', '.join(p.name for p in matches)}")


def _check_same_detector(image: Path, wcs_path: Path, model_info: dict, file_info: dict) -> None:
    for key in ("v2_ref", "v3_ref"):
        a, b = model_info.get(key), file_info.get(key)
        if a is not None and b is not None and abs(float(a) - float(b)) > 1e-3:
            raise InputError(f"{wcs_path}: {key}={b} differs from {image}'s {key}={a} "
                             f"(a WCS of another detector or aperture)")


def apply_wcs(images, wcs_dir, output_dir=None, in_place: bool = False) -> list[Path]:
    """Put saved ``<root>_tweakreg.asdf`` WCS files into JWST images.

    Every image and WCS file is checked before anything is written: a
    missing WCS file, an unreadable image or a WCS of another detector
    (``v2_ref``/``v3_ref`` differ) raises :class:`InputError` and nothing is
    written.  Outputs are ``<output_dir>/<root>_tweakreg.fits`` (default: the
    current directory) unless ``in_place`` overwrites the images.

    Returns
    -------
    list of Path
        The files written, in the order of ``images``.
    """
    wcs_dir = Path(wcs_dir)
    if not wcs_dir.is_dir():
        raise InputError(f"--wcs_dir {wcs_dir}: not a directory")
    plan = []
    for image in map(Path, images):
        if not image.is_file():
            raise InputError(f"{image}: file not found")
        wcs_path = _find_wcs_file(image, wcs_dir)
        wcs, wcsinfo = read_wcs_file(wcs_path)
        with open_model(image) as model:
            _check_same_detector(image, wcs_path, dict(model.meta.wcsinfo.instance), wcsinfo)
        out = _output_path(image, jwst_root(image), output_dir, in_place)
        plan.append((image, wcs_path, wcs, wcsinfo, out))
    written = []
    for image, wcs_path, wcs, wcsinfo, out in plan:
        with open_model(image) as model:
            if in_place:
                archive_model_wcs(model, reason=f"apply-wcs {wcs_path.name}")
            model.meta.wcs = wcs
            info = dict(model.meta.wcsinfo.instance)
            if any(k.startswith(_SIP_PREFIXES) for k in wcsinfo):
                info = {k: v for k, v in info.items() if not k.startswith(_SIP_PREFIXES)}
            info.update(wcsinfo)
            if "s_region" not in wcsinfo:
                info["s_region"] = s_region(wcs)
            _set_wcsinfo(model, info)
            model.meta.cal_step.tweakreg = "COMPLETE"
            model.meta.filename = out.name
            _save_model(model, out)
        log.info("applied %s to %s -> %s", wcs_path.name, image.name, out)
        written.append(out)
    return written


def apply_wcs_main(argv=None) -> int:
    """``tweakgui apply-wcs IMAGE... --wcs_dir DIR [--output_dir DIR] [--in_place]``.

    Returns 0 on success and 2 (one line on stderr, nothing written) when an
    input is bad.
    """
    class _Parser(argparse.ArgumentParser):
        def error(self, message):  # one line on exit 2, not argparse's usage block
            raise InputError(f"apply-wcs: {message}")

    parser = _Parser(
        prog="tweakgui apply-wcs",
        description="Apply saved <root>_tweakreg.asdf WCS files to JWST images.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JWST image files or wildcards")
    parser.add_argument("--wcs_dir", required=True, help="directory holding <root>_tweakreg.asdf")
    parser.add_argument("--output_dir", default=None, help="output directory (default: .)")
    parser.add_argument("--in_place", action="store_true", help="overwrite the input images")
    args = parser.parse_args(argv)
    images = []
    for spec in args.images:
        if any(c in spec for c in "*?["):
            found = sorted(glob.glob(spec))
            if not found:
                print(f"tweakgui apply-wcs: {spec}: no file matches", file=sys.stderr)
                return 2
            images.extend(found)
        else:
            images.append(spec)
    try:
        written = apply_wcs(images, args.wcs_dir, args.output_dir, args.in_place)
    except InputError as exc:
        print(f"tweakgui apply-wcs: {exc}", file=sys.stderr)
        return 2
    for p in written:
        log.info("wrote %s", p)
    return 0
