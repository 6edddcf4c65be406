"""Input specifications → :class:`~tweakgui.engine.model.Visit`.

An input spec is a FITS file, a wildcard, a comma-separated list, ``@file``
(one name per line, relative to the list file) or a JWST-style ASN json.
FITS images with one or more ``SCI`` extensions (or a primary image) and a
FITS WCS (with SIP) become one exposure whose chips share one correction;
JWST datamodels are read by :mod:`tweakgui.engine.jwst`.
"""

from __future__ import annotations

import glob
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from .model import Chip, Exposure, InputError, Visit

__all__ = [
    "InputItem",
    "expand_inputs",
    "read_asn",
    "read_fits_exposure",
    "read_exposure",
    "load_visit",
    "read_pixels",
    "output_root",
]

log = logging.getLogger(__name__)

_SUFFIX_RE = re.compile(r"_(cal|flt|flc|rate|rateints|crf|i2d|drz|drc|tweakreg)$", re.IGNORECASE)
# HST DQ bits treated as bad for detection: bad pixel, hot, warm, saturated, bad flat, cosmic rays
HST_BAD_DQ = 4 | 16 | 32 | 256 | 512 | 4096 | 8192


@dataclass
class InputItem:
    """One input file with what an ASN or list may say about it."""

    path: Path
    group_id: str | None = None
    catalog: Path | None = None


def output_root(path: Path) -> str:
    """The input's name without ``.fits`` and a trailing pipeline suffix."""
    name = Path(path).name
    for ext in (".fits.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return _SUFFIX_RE.sub("", name)


def read_asn(path: Path) -> list[InputItem]:
    """Science members of a JWST-style association (``products[*].members``)."""
    path = Path(path)
    try:
        asn = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read association: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: malformed association json: {e.msg} (line {e.lineno})") from None
    if not isinstance(asn, dict) or not isinstance(asn.get("products"), list):
        raise InputError(f"{path}: malformed association: no 'products' list")
    items = []
    for prod in asn["products"]:
        members = prod.get("members") if isinstance(prod, dict) else None
        if not isinstance(members, list):
            raise InputError(f"{path}: malformed association: a product has no 'members' list")
        for m in members:
            if not isinstance(m, dict) or "expname" not in m:
                raise InputError(f"{path}: malformed association: a member has no 'expname'")
            if str(m.get("exptype", "science")).lower() != "science":
                continue
            exp = path.parent / m["expname"]
            cat = m.get("tweakreg_catalog") or None
            gid = m.get("group_id")
            items.append(
                InputItem(exp, None if gid in (None, "") else str(gid), path.parent / cat if cat else None)
            )
    if not items:
        raise InputError(f"{path}: association has no science members")
    return items


def _read_list(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read list file: {e.strerror or e}") from None
    out = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name = line.split()[0]
            out.append(str(path.parent / name) if not Path(name).is_absolute() else name)
    if not out:
        raise InputError(f"{path}: list file names no images")
    return out


def expand_inputs(specs: list[str]) -> list[InputItem]:
    """Expand input specs into files, in order, checking existence and duplicates."""
    items: list[InputItem] = []
    for spec in specs:
        spec = str(spec).strip()
        if not spec:
            continue
        if spec.startswith("@"):
            lst = Path(spec[1:])
            items += expand_inputs(_read_list(lst))
            continue
        if "," in spec:
            items += expand_inputs([s for s in spec.split(",") if s.strip()])
            continue
        if any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(spec))
            if not matches:
                raise InputError(f"{spec}: wildcard matches no files")
            items += expand_inputs(matches)
            continue
        p = Path(spec)
        if p.suffix.lower() == ".json":
            if not p.is_file():
                raise InputError(f"{p}: association file not found")
            items += read_asn(p)
            continue
        items.append(InputItem(p))
    seen = {}
    for it in items:
        if not it.path.exists():
            raise InputError(f"{it.path}: file not found")
        if it.path.is_dir():
            raise InputError(f"{it.path}: is a directory, not an image")
        key = it.path.resolve()
        if key in seen:
            raise InputError(f"{it.path}: given more than once")
        seen[key] = it
    if not items:
        raise InputError("no input images given")
    return items


def _open_fits(path: Path) -> fits.HDUList:
    try:
        hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Empty or corrupt" in msg or "No SIMPLE card" in msg:
            raise InputError(f"{path}: not a FITS file") from None
        raise InputError(f"{path}: cannot read FITS: {msg}") from None
    except Exception as e:  # astropy raises various errors on truncated/garbage files
        raise InputError(f"{path}: not a readable FITS file ({type(e).__name__}: {e})") from None
    return hdul


def _chip_wcs(path, hdul, hdu, name) -> WCS:
    import warnings

    from astropy.wcs import FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            w = WCS(hdul[hdu].header, hdul)
        except Exception as e:
            raise InputError(f"{path}[{name}]: invalid WCS: {e}") from None
    if not w.has_celestial or w.naxis != 2:
        raise InputError(f"{path}[{name}]: no celestial WCS in the header")
    ny, nx = hdul[hdu].shape
    w.pixel_shape = (nx, ny)
    return w


def read_fits_exposure(path: Path, group_id: str | None = None) -> Exposure:
    """An HST-style FITS file: every ``SCI`` extension is a chip."""
    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            sci = [
                i for i, h in enumerate(hdul)
                if h.name.upper() == "SCI" and h.is_image and h.header.get("NAXIS", 0) == 2
            ]
            if not sci:
                sci = [
                    i for i, h in enumerate(hdul)
                    if h.is_image and h.header.get("NAXIS", 0) == 2 and h.name.upper() not in ("DQ", "ERR", "WHT", "CON")
                ][:1]
            if not sci:
                raise InputError(f"{path}: no 2-D image data (no SCI extension or primary image)")
            chips = []
            for i in sci:
                h = hdul[i]
                name = f"{h.name},{h.ver}" if h.name else f"HDU{i}"
                chips.append(Chip(name=name, hdu=i, shape=tuple(h.shape), wcs=_chip_wcs(path, hdul, i, name),
                                  meta={"extver": h.ver}))
            meta = {k: hdul[0].header.get(k) for k in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "DATE-OBS", "EXPTIME")}
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{path}: cannot read FITS ({type(e).__name__}: {e})") from None
    root = output_root(path)
    return Exposure(path=path, kind="fits", chips=chips, group_id=group_id or root, root=root, meta=meta)


def read_exposure(item: InputItem) -> Exposure:
    """Read one input, FITS or JWST."""
    try:
        from . import jwst
    except ImportError:  # JWST support not available
        jwst = None
    if jwst is not None and jwst.is_jwst_file(item.path):
        exp = jwst.read_jwst_exposure(item.path, group_id=item.group_id)
    else:
        exp = read_fits_exposure(item.path, group_id=item.group_id)
    if item.catalog is not None:
        for c in exp.chips:
            c.catalog_path = item.catalog
    return exp


def load_visit(specs: list[str], params) -> Visit:
    """Expand ``specs`` and read every exposure, attaching custom catalogs and exclusions."""
    from . import catalogs

    items = expand_inputs(specs)
    exposures = [read_exposure(it) for it in items]
    kinds = {e.kind for e in exposures}
    if len(kinds) > 1:
        raise InputError("inputs mix FITS-WCS (HST) and GWCS (JWST) images; align them separately")
    if params.use_custom_catalogs:
        catalogs.attach_custom_catalogs(exposures, params.catfile or None)
    if params.exclusions:
        from . import exclusions

        table = exclusions.read_exclusions_file(params.exclusions)
        for e in exposures:
            specs_ = table.get(e.name) or table.get(e.root)
            if specs_ is None:
                continue
            for c, s in zip(e.chips, specs_):
                if s:
                    c.meta["exclusion"] = s
    return Visit(exposures, source=" ".join(map(str, specs)))


def read_pixels(exposure: Exposure, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """Pixel data (float32) and a bad-pixel mask (True = do not use) of one chip."""
    if exposure.kind == "jwst":
        from . import jwst

        return jwst.read_jwst_pixels(exposure, chip)
    with _open_fits(exposure.path) as hdul:
        h = hdul[chip.hdu]
        if h.data is None:
            raise InputError(f"{exposure.path}[{chip.name}]: no image data")
        data = np.asarray(h.data, dtype=np.float32)
        mask = ~np.isfinite(data)
        ver = h.ver
        if "DQ" in [x.name for x in hdul]:
            try:
                dq = hdul["DQ", ver].data
                if dq is not None and dq.shape == data.shape:
                    mask |= (dq.astype(np.int64) & HST_BAD_DQ) != 0
            except KeyError:
                pass
    return data, mask
