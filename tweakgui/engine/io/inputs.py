"""Input specifications → :class:`~tweakgui.engine.model.Visit`.

An input spec is a FITS file, a wildcard, a comma-separated list, ``@file``
(one name per line, relative to the list file) or a JWST-style ASN json.
FITS images with one or more ``SCI`` extensions (or a primary image) and a
FITS WCS (with SIP) become one exposure whose chips share one correction;
JWST datamodels are read by :mod:`tweakgui.engine.io.jwst`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.engine.model import Chip, Exposure, InputError

__all__ = [
    "InputItem",
    "expand_inputs",
    "read_asn",
    "read_fits_exposure",
    "read_exposure",
    "distinct_default_groups",
    "read_pixels",
    "output_root",
    "check_regular_file",
    "check_linear_part",
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
    # the @list or ASN file that named it, for error messages
    origin: Path | None = None
    # a source catalog with a WCS and no pixels (``--catalogs``), and its WCS file if paired
    is_catalog: bool = False
    wcs: Path | None = None


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
    check_regular_file(path, "association")
    try:
        asn = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read association: {str(e).splitlines()[0][:150]}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: malformed association json: {e.msg} (line {e.lineno})") from None
    except (ValueError, RecursionError) as e:  # e.g. huge integers, absurd nesting
        raise InputError(f"{path}: malformed association json: {str(e).splitlines()[0][:100]}") from None
    if not isinstance(asn, dict) or not isinstance(asn.get("products"), list):
        raise InputError(f"{path}: malformed association: no 'products' list")
    items = []
    for prod in asn["products"]:
        members = prod.get("members") if isinstance(prod, dict) else None
        if not isinstance(members, list):
            raise InputError(f"{path}: malformed association: a product has no 'members' list")
        for m in members:
            if not isinstance(m, dict) or not isinstance(m.get("expname"), str) or not m["expname"].strip():
                raise InputError(f"{path}: malformed association: a member has no 'expname' file name")
            if str(m.get("exptype", "science")).lower() != "science":
                continue
            exp = path.parent / m["expname"].strip()
            cat = m.get("tweakreg_catalog") or None
            if cat is not None and not isinstance(cat, str):
                raise InputError(f"{path}: malformed association: 'tweakreg_catalog' of {m['expname']} "
                                 "is not a file name")
            gid = m.get("group_id")
            if isinstance(gid, (dict, list)):
                raise InputError(f"{path}: malformed association: 'group_id' of {m['expname']} "
                                 "is not a name")
            items.append(
                InputItem(exp, None if gid in (None, "") else str(gid), path.parent / cat if cat else None,
                          origin=path)
            )
    if not items:
        raise InputError(f"{path}: association has no science members")
    return items


def check_regular_file(path: Path, what: str = "") -> None:
    """Refuse what is not a regular file (a FIFO blocks ``open``, ``/dev/zero`` never ends).

    Symbolic links are followed.  A missing file is left to the reader's own message.
    """
    label = f"{what} {path}" if what else f"{path}"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise InputError(f"{str(label)[:200]}: cannot be read ({e})") from None
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise InputError(f"{label}: is {kind}, not a regular file")


def _read_list(path: Path) -> list[str]:
    check_regular_file(path, "list file")
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read list file: {e.strerror or e}") from None
    except ValueError as e:  # not text, or a NUL in the name
        raise InputError(f"{str(path)[:200]!r}: cannot read list file: {str(e)[:100]}") from None
    out = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name = line.split()[0]
            out.append(str(path.parent / name) if not Path(name).is_absolute() else name)
    if not out:
        raise InputError(f"{path}: list file names no images")
    return out


def _expand(specs: list[str], lists: tuple = ()) -> list[InputItem]:
    items: list[InputItem] = []
    for spec in specs:
        spec = str(spec).strip()
        if not spec:
            continue
        if spec.startswith("@"):
            lst = Path(spec[1:])
            try:
                key = lst.resolve()
            except (OSError, ValueError) as e:  # NUL bytes, symlink loops
                raise InputError(f"{spec[:200]!r}: not a usable list file name ({e})") from None
            if key in lists:
                raise InputError(f"{lst}: list file names itself (through @{lst.name})")
            for it in _expand(_read_list(lst), lists + (key,)):
                it.origin = it.origin or lst
                items.append(it)
            continue
        if "," in spec:
            items += _expand([s for s in spec.split(",") if s.strip()], lists)
            continue
        if any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(spec))
            if not matches:
                raise InputError(f"{spec}: wildcard matches no files")
            for m in matches:  # a matched name is a file, not another spec
                items += read_asn(Path(m)) if m.lower().endswith(".json") else [InputItem(Path(m))]
            continue
        p = Path(spec)
        if p.suffix.lower() == ".json":
            try:
                found = p.is_file()
            except (OSError, ValueError):
                found = False
            if not found:
                raise InputError(f"{str(p)[:200]}: association file not found")
            items += read_asn(p)
            continue
        items.append(InputItem(p))
    return items


def expand_inputs(specs: list[str], catalogs: list[str] = ()) -> list[InputItem]:
    """Expand input specs into files, in order, checking existence and duplicates.

    ``catalogs`` are specs of catalog inputs (source catalogs with a WCS, no
    pixels); they follow the images and are marked ``is_catalog``.
    """
    items = _expand(specs)
    for it in _expand(list(catalogs)):
        it.is_catalog = True
        items.append(it)
    seen = {}
    for it in items:
        where = f" (listed in {it.origin})" if it.origin else ""
        try:
            exists, is_dir, key = it.path.exists(), it.path.is_dir(), it.path.resolve()
        except (OSError, ValueError) as e:  # NUL bytes, names too long, loops
            raise InputError(f"{str(it.path)[:200]!r}: not a usable file name{where} ({e})") from None
        if not exists:
            raise InputError(f"{it.path}: file not found{where}")
        if is_dir:
            raise InputError(f"{it.path}: is a directory, not an image{where}")
        try:
            check_regular_file(it.path)
        except InputError as e:
            raise InputError(f"{e}{where}") from None
        if key in seen:
            raise InputError(f"{it.path}: given more than once{where}")
        st = os.stat(it.path)
        same = seen.get((st.st_dev, st.st_ino))
        if same is not None:  # a hard link: one file under two names
            raise InputError(f"{it.path}: the same file as {same.path} (a hard link); given more than once"
                             f"{where}")
        seen[key] = it
        seen[(st.st_dev, st.st_ino)] = it
    if not items:
        raise InputError("no input images given")
    return items


_TRUNCATED = ("File may have been truncated", "Header size is not multiple of 2880")


def _open_fits(path: Path) -> fits.HDUList:
    import warnings

    try:
        # astropy only warns about a truncated file; a truncated input must stop the run
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
        for w in caught:
            text = str(w.message)
            if any(t in text for t in _TRUNCATED):
                hdul.close()
                size = re.search(r"actual file length \((\d+)\).*expected size \((\d+)\)", text)
                detail = f" ({size.group(1)} of {size.group(2)} bytes)" if size else ""
                raise InputError(f"{path}: truncated or corrupt FITS file{detail}")
            if not issubclass(w.category, ResourceWarning):
                log.debug("%s: %s", path, text.splitlines()[0] if text else w.category.__name__)
    except InputError:
        raise
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
    check_linear_part(w, f"{path}[{name}]", hdul[hdu].header)
    ny, nx = hdul[hdu].shape
    w.pixel_shape = (nx, ny)
    return w


def _header_matrix(header, kind: str) -> np.ndarray | None:
    """CDi_j (missing: 0) or PCi_j (missing: identity) as written in the header, if any is."""
    keys = [[f"{kind}{i}_{j}" for j in (1, 2)] for i in (1, 2)]
    if not any(k in header for row in keys for k in row):
        return None
    default = (lambda i, j: 0.0) if kind == "CD" else (lambda i, j: float(i == j))
    try:
        return np.array([[float(header.get(keys[i][j], default(i, j))) for j in range(2)] for i in range(2)])
    except (TypeError, ValueError):
        return None


def check_linear_part(w: WCS, where: str, header=None) -> None:
    """A WCS whose pixel→sky matrix cannot be inverted maps the image to a point or a line.

    The header is looked at too: wcslib quietly turns an all-zero CD matrix
    into the unit matrix (one degree per pixel).
    """
    for kind in ("CD", "PC"):
        m = _header_matrix(header, kind) if header is not None else None
        if m is not None and (not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) <= 1e-12 * max(
                float(np.max(np.abs(m))), 1e-300) ** 2):
            raise InputError(f"{where}: invalid WCS: the {kind} matrix is singular (determinant 0), "
                             "the image has no proper sky position")
    try:
        m = np.asarray(w.pixel_scale_matrix, float)
        crval = np.asarray(w.wcs.crval, float)
    except Exception as e:  # astropy refuses some matrices outright
        raise InputError(f"{where}: invalid WCS: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                         ) from None
    if not np.all(np.isfinite(m)) or not np.all(np.isfinite(crval)):
        raise InputError(f"{where}: invalid WCS: CD/PC, CDELT or CRVAL not finite")
    det = float(np.linalg.det(m))
    scale = float(np.max(np.abs(m)))
    if scale == 0.0 or abs(det) <= 1e-12 * scale * scale:
        raise InputError(f"{where}: invalid WCS: the CD (or PC×CDELT) matrix is singular "
                         "(determinant 0), the image has no proper sky position")


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
            # the observation's time (EXPSTART, MJD-OBS, DATE-OBS + TIME-OBS) sets the epoch of the reference catalog
            meta = {k: hdul[0].header.get(k) for k in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "DATE-OBS",
                                                        "TIME-OBS", "EXPSTART", "MJD-OBS", "EXPTIME")}
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{path}: cannot read FITS ({type(e).__name__}: {e})") from None
    root = output_root(path)
    return Exposure(path=path, kind="fits", chips=chips, group_id=group_id or root, root=root, meta=meta)


def read_exposure(item: InputItem, shared: dict | None = None) -> Exposure:
    """Read one input: HST-style FITS, a JWST datamodel, or a standalone GWCS ASDF file.

    A GWCS file has no pixels: it needs a custom catalog (catalog-level alignment).
    ``shared``: the transforms of the GWCS files read before, by content
    (:func:`tweakgui.engine.io.jwst.read_wcs_file`).
    """
    from tweakgui.engine.io import jwst

    if jwst.is_jwst_file(item.path):
        exp = jwst.read_jwst_exposure(item.path, group_id=item.group_id)
    elif jwst.is_asdf_file(item.path):  # read once: a file that is no GWCS file raises, naming it
        exp = jwst.read_wcs_exposure(item.path, group_id=item.group_id, shared=shared)
    elif item.path.suffix.lower() == ".asdf":
        raise InputError(f"{item.path}: not a readable GWCS file (an ASDF file with a 'wcs' GWCS)")
    else:
        exp = read_fits_exposure(item.path, group_id=item.group_id)
    if item.catalog is not None:
        for c in exp.chips:
            c.catalog_path = item.catalog
    return exp


def distinct_default_groups(items: list[InputItem], exposures: list[Exposure]) -> None:
    """a/x_flt.fits and b/x_flt.fits: each its own default group id (``a/x``, ``b/x``).

    The default group id is the root; two files of one root from different
    folders are different exposures and must not share a correction.  Group
    ids given by an ASN are kept as they are.
    """
    # only the root-named default: readers may group on purpose (JWST: detectors of one exposure)
    defaulted = [i for i, it in enumerate(items)
                 if it.group_id is None and exposures[i].group_id == exposures[i].root]
    count: dict[str, int] = {}
    for i in defaulted:
        count[exposures[i].group_id] = count.get(exposures[i].group_id, 0) + 1
    used = {e.group_id for e in exposures}
    for i in defaulted:
        e = exposures[i]
        if count[e.group_id] < 2:
            continue
        parts = Path(os.path.abspath(e.path)).parent.parts
        for depth in range(1, len(parts) + 1):
            gid = "/".join(parts[-depth:] + (e.root,)).lstrip("/")
            if gid not in used:
                break
        else:
            gid = f"{e.root}#{i + 1}"
        used.add(gid)
        e.group_id = gid


def read_pixels(exposure: Exposure, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """Pixel data (float32) and a bad-pixel mask (True = do not use) of one chip."""
    if exposure.kind == "jwst":
        from tweakgui.engine.io import jwst

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
                    # the flags fit 16 bits: an int16/32 DQ is tested as it is (no 64-bit copy)
                    wide = dq.dtype.kind in "iu" and dq.dtype.itemsize >= 2
                    mask |= ((dq if wide else dq.astype(np.int64)) & HST_BAD_DQ) != 0
            except KeyError:
                pass
    return data, mask
