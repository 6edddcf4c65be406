"""Catalog inputs: source catalogs with a WCS and no pixels (catalog-only alignment).

A catalog input lists the pixel positions of the sources of an image that is
not given (``x``/``y`` or ``xcentroid``/``ycentroid``, 0-based, optional
``weight`` and ``flux``).  It becomes an :class:`~tweakgui.engine.model.Exposure`
without pixels (``meta['has_pixels']`` False, ``meta['catalog_input']`` True)
whose chips read their sources from the catalog.  Its WCS comes from, first
found first:

1. the file paired with it on the command line (``--wcs``);
2. its metadata: ``gwcs`` (the name of an ASDF file ``{wcs, wcsinfo}``,
   relative to the catalog), ``wcs`` (FITS cards as a mapping, a list of
   mappings one per chip, or header text), or FITS WCS keywords (``CTYPE1``,
   ``CRVAL1``, …) in the metadata itself, as in the header of a FITS table;
3. the primary header of a FITS-table catalog;
4. a sidecar file of the same root (the catalog's name without its extension,
   and also without a trailing ``_cat``): ``<root>.hdr`` (text header),
   ``<root>.wcs``, ``<root>_wcs.fits``, ``<root>.fits`` (FITS; every ``SCI``
   extension a chip), ``<root>_wcs.asdf``, ``<root>.asdf`` (GWCS).

The size of each chip, needed for footprints and overlap, is NAXIS1/NAXIS2
of its header, else NPIX1/NPIX2 (headerlets) or IMAGEW/IMAGEH
(astrometry.net), else the metadata's ``shape`` ``(ny, nx)``, else the GWCS's
own pixel shape or bounding box, else the extent of the sources (a warning
says so).  A FITS WCS of several chips needs a ``chip`` (or ``extver``) column
giving the EXTVER of each source's chip.
"""

from __future__ import annotations

import glob
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui.engine.io.inputs import (
    InputItem,
    check_linear_part,
    check_regular_file,
    output_root,
    read_exposure,
)
from tweakgui.engine.io.tables import find_column, is_file, numbers, read_table
from tweakgui.engine.model import Chip, Exposure, InputError

__all__ = ["CATALOG_SUFFIXES", "CHIP_COLUMNS", "is_catalog_name", "is_fits_catalog", "read_input",
           "read_catalog_exposure", "catalog_root", "sidecar_candidates", "expand_wcs_files",
           "pair_wcs_files", "header_hdulist"]

log = logging.getLogger(__name__)

CATALOG_SUFFIXES = (".ecsv", ".cat", ".csv", ".xml", ".vot", ".votable")
CHIP_COLUMNS = ("chip", "extver")
_X_NAMES = ("x", "xcentroid", "x_centroid")
_Y_NAMES = ("y", "ycentroid", "y_centroid")
_EXTENSIONS = (".fits.gz", ".fits", ".fit", ".fts", ".txt", ".dat") + CATALOG_SUFFIXES
_CAT_SUFFIX = re.compile(r"_(cat|catalog)$", re.IGNORECASE)
_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$")
_TABLE_KEYWORD = re.compile(r"^(T(TYPE|FORM|UNIT|DIM|NULL|SCAL|ZERO|DISP)\d+|TFIELDS|XTENSION|PCOUNT|GCOUNT"
                            r"|BITPIX|SIMPLE|EXTEND|THEAP)$")
_SHAPE_KEYS = (("NAXIS1", "NAXIS2"), ("NPIX1", "NPIX2"), ("IMAGEW", "IMAGEH"))
_META_KEYS = ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "DATE-OBS", "EXPTIME")


@dataclass
class _WcsSource:
    """Where a catalog's WCS was found: FITS headers (one per chip) or a GWCS file."""

    where: str
    headers: list = field(default_factory=list)
    primary: fits.Header | None = None
    gwcs_path: Path | None = None
    file: Path | None = None  # a file read for the WCS (sidecar, --wcs or the GWCS file)


# ------------------------------------------------------------------ recognising catalogs


def is_catalog_name(path) -> bool:
    """True for a name only a table has (``.ecsv``, ``.cat``, ``.csv``, VOTable)."""
    return Path(path).name.lower().endswith(CATALOG_SUFFIXES)


def is_fits_catalog(path) -> bool:
    """True for a FITS file holding no 2-D image and a table with x/y columns (a FITS catalog)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True) as hdul:
                if any(h.is_image and h.header.get("NAXIS", 0) == 2 for h in hdul):
                    return False
                tables = [h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))]
                names = {n.lower() for n in tables[0].columns.names} if tables else set()
    except Exception:  # not FITS at all: not a FITS catalog either
        return False
    return bool(names & set(_X_NAMES)) and bool(names & set(_Y_NAMES))


def read_input(item: InputItem, shared: dict | None = None) -> Exposure:
    """Read one input: a catalog input (marked, named ``.ecsv`` …, or a FITS table of x/y) or an image.

    ``shared``: GWCS transforms read before (:func:`tweakgui.engine.io.jwst.read_wcs_file`).
    """
    if item.is_catalog or is_catalog_name(item.path):
        return read_catalog_exposure(item.path, item.group_id, item.wcs)
    try:
        return read_exposure(item, shared)
    except InputError:
        if not is_fits_catalog(item.path):  # an image's own error says what is wrong with it
            raise
    return read_catalog_exposure(item.path, item.group_id, item.wcs)


def catalog_root(path, jwst: bool = False) -> str:
    """Output root of a catalog input: its name without extension, ``_cat`` and pipeline suffix."""
    name = Path(path).name
    for ext in _EXTENSIONS:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    else:
        name = Path(name).stem or name
    name = _CAT_SUFFIX.sub("", name) or name
    if jwst:
        from tweakgui.engine.io.jwst import jwst_root

        return jwst_root(name)
    return output_root(name)


def sidecar_candidates(path) -> list[Path]:
    """The sidecar files that may hold a catalog's WCS, in the order they are tried."""
    path = Path(path)
    name = path.name
    for ext in _EXTENSIONS:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    stems = [name] + ([_CAT_SUFFIX.sub("", name)] if _CAT_SUFFIX.search(name) else [])
    out = []
    for stem in stems:
        for tail in (".hdr", ".wcs", "_wcs.fits", ".fits", "_wcs.asdf", ".asdf"):
            p = path.with_name(stem + tail)
            if p.name != path.name:
                out.append(p)
    return out


# ------------------------------------------------------------------ the exposure


def read_catalog_exposure(path, group_id: str | None = None, wcs_path=None) -> Exposure:
    """A catalog input as an exposure without pixels.

    Parameters
    ----------
    path : str or Path
        The catalog (any astropy table format).
    group_id : str, optional
        An ASN member's group id; else the metadata's ``group_id``; else the
        JWST observation in the file name (GWCS) or the root.
    wcs_path : str or Path, optional
        A file holding the WCS (FITS, text header or GWCS ASDF), before any other source.

    Raises
    ------
    InputError
        One line naming the file: no x/y columns, no WCS found, an invalid WCS,
        or sources on chips the WCS does not describe.
    """
    path = Path(path)
    table = read_table(path)
    _xy_columns(table, path)
    src = _find_wcs(path, table, wcs_path)
    if src.gwcs_path is not None:
        exp = _gwcs_exposure(path, table, src, group_id)
    else:
        exp = _fits_exposure(path, table, src, group_id)
    for c in exp.chips:
        c.catalog_path = path
    exp.meta.update(has_pixels=False, catalog_input=True, wcs_source=src.where,
                    wcs_file=None if src.file is None else str(src.file))
    log.info("%s: catalog input of %d sources on %d chip%s, WCS from %s", path.name, len(table),
             len(exp.chips), "s" if len(exp.chips) != 1 else "", src.where)
    return exp


def _xy_columns(table: Table, path: Path) -> tuple[str, str]:
    xc, yc = find_column(table, *_X_NAMES), find_column(table, *_Y_NAMES)
    if xc is not None and yc is not None:
        return xc, yc
    if table.colnames and len(table.colnames) >= 2 and all(c.startswith("col") for c in table.colnames):
        return table.colnames[0], table.colnames[1]  # a table without a header line
    raise InputError(f"{path}: catalog has no x/y (or xcentroid/ycentroid) columns: a catalog input "
                     "needs the pixel positions of its sources")


def _meta_value(meta, key: str):
    for k, v in (meta or {}).items():
        if str(k).lower() == key:
            return v
    return None


def _group(table, group_id, default: str) -> tuple[str, str]:
    if group_id:
        return str(group_id), "argument"
    meta_gid = _meta_value(table.meta, "group_id")
    if isinstance(meta_gid, (str, int)) and str(meta_gid).strip():
        return str(meta_gid).strip(), "catalog metadata"
    return default, "file"


def _fits_exposure(path: Path, table: Table, src: _WcsSource, group_id) -> Exposure:
    headers = src.headers
    extvers = [int(h.get("EXTVER", i + 1)) for i, h in enumerate(headers)]
    selects = _chip_selection(path, table, extvers)
    chips = []
    for i, (h, ext, select) in enumerate(zip(headers, extvers, selects)):
        name = f"SCI,{ext}"
        where = f"{path}[{name}] (WCS from {src.where})"
        h = h.copy()
        h["EXTNAME"], h["EXTVER"] = "SCI", ext
        w = _fits_wcs(h, where)
        shape = _shape(h, table, path, select, name)
        w.pixel_shape = (shape[1], shape[0])
        chips.append(Chip(name=name, hdu=i + 1, shape=shape, wcs=w,
                          meta={"extver": ext, "header": h, "catalog_select": select}))
    primary = src.primary.copy() if src.primary is not None else fits.Header()
    meta = {k: primary.get(k, headers[0].get(k)) for k in _META_KEYS}
    meta["primary_header"] = primary
    root = catalog_root(path)
    gid, meta["group_source"] = _group(table, group_id, root)
    return Exposure(path=path, kind="fits", chips=chips, group_id=gid, root=root, meta=meta)


def _gwcs_exposure(path: Path, table: Table, src: _WcsSource, group_id) -> Exposure:
    from tweakgui.engine.io import jwst

    f = src.gwcs_path
    if not is_file(f):
        raise InputError(f"{f}: GWCS file of catalog {path.name} not found (named by {src.where})")
    base = jwst.read_wcs_exposure(f)
    col = find_column(table, *CHIP_COLUMNS)
    if col is not None and len(_chip_values(table, col, path)) > 1:
        raise InputError(f"{path}: column '{col}' puts sources on several chips, but a GWCS describes "
                         "one detector: give one catalog per detector")
    chip = base.chips[0]
    chip.meta["catalog_select"] = None
    obs = jwst.observation_from_filename(path) or base.meta.get("observation") or {}
    root = catalog_root(path, jwst=True)
    default = jwst.group_id_from_observation(obs) if obs else root
    gid, source = _group(table, group_id, default)
    meta = dict(base.meta, observation=obs, group_source="observation" if source == "file" and obs
                else source)
    return Exposure(path=path, kind="jwst", chips=[chip], group_id=gid, root=root, meta=meta)


def _fits_wcs(h: fits.Header, where: str) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            w = WCS(h)
        except Exception as e:  # wcslib and astropy raise many kinds on odd headers
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"{where}: invalid WCS: {msg}") from None
    if not w.has_celestial or w.naxis != 2:
        raise InputError(f"{where}: no celestial WCS (CTYPE1/CTYPE2 must be RA/DEC)")
    check_linear_part(w, where, h)
    return w


# ------------------------------------------------------------------ chips and sizes


def _chip_values(table: Table, col: str, path: Path) -> list[int]:
    v = numbers(table, col, path)
    v = v[np.isfinite(v)]
    if np.any(v != np.round(v)):
        raise InputError(f"{path}: column '{col}' must hold whole chip numbers (the EXTVER of SCI,n)")
    return sorted({int(x) for x in v})


def _chip_selection(path: Path, table: Table, extvers: list[int]) -> list:
    """Per chip: the ``(column, extver)`` selecting its sources, or None for all rows."""
    col = find_column(table, *CHIP_COLUMNS)
    names = ", ".join(f"SCI,{e}" for e in extvers)
    if col is None:
        if len(extvers) > 1:
            raise InputError(f"{path}: the WCS describes {len(extvers)} chips ({names}) but the catalog "
                             "has no 'chip' (or 'extver') column saying on which chip each source is")
        return [None]
    found = _chip_values(table, col, path)
    if len(extvers) == 1:
        if len(found) > 1:
            raise InputError(f"{path}: column '{col}' puts sources on chips {found} but the WCS "
                             "describes one chip")
        return [None]
    stray = [v for v in found if v not in extvers]
    if stray:
        raise InputError(f"{path}: column '{col}' puts sources on chips {stray} that the WCS does not "
                         f"describe (it has {names})")
    return [(col, e) for e in extvers]


def _shape(h: fits.Header, table: Table, path: Path, select, name: str) -> tuple[int, int]:
    """(ny, nx) of a chip: its header, the catalog's metadata, else the extent of its sources."""
    for kx, ky in _SHAPE_KEYS:
        nx, ny = h.get(kx), h.get(ky)
        if isinstance(nx, (int, np.integer)) and isinstance(ny, (int, np.integer)) and nx > 0 and ny > 0:
            return int(ny), int(nx)
    shape = _meta_shape(table, path)
    if shape is not None:
        return shape
    xc, yc = _xy_columns(table, path)
    x, y = numbers(table, xc, path), numbers(table, yc, path)
    if select is not None:
        mine = numbers(table, select[0], path) == select[1]
        x, y = x[mine], y[mine]
    good = np.isfinite(x) & np.isfinite(y)
    if not good.any():
        raise InputError(f"{path}[{name}]: no sources with finite x/y")
    nx, ny = int(np.ceil(np.max(x[good]) + 1)), int(np.ceil(np.max(y[good]) + 1))
    nx, ny = max(nx, 1), max(ny, 1)
    log.warning("%s[%s]: no image size in its WCS header or metadata (NAXIS1/2, NPIX1/2, 'shape'); "
                "using the extent of its sources, %d x %d pixels", path.name, name, nx, ny)
    return ny, nx


def _meta_shape(table: Table, path: Path):
    v = _meta_value(table.meta, "shape")
    if v is None:
        return None
    try:
        ny, nx = (int(n) for n in v)
        if ny > 0 and nx > 0 and [ny, nx] == [float(n) for n in v]:
            return ny, nx
    except (TypeError, ValueError):
        pass
    raise InputError(f"{path}: metadata 'shape' must be the image size (ny, nx) in pixels, got {v!r}")


# ------------------------------------------------------------------ finding the WCS


def _find_wcs(path: Path, table: Table, explicit) -> _WcsSource:
    if explicit is not None:
        src = _wcs_file(Path(explicit), "--wcs")
        if src is None:
            raise InputError(f"{explicit}: no WCS in this file (CTYPE1/CRVAL1 keywords or a GWCS), "
                             f"paired with {path.name} by --wcs")
        return src
    src = _wcs_from_meta(path, table.meta)
    if src is None and path.name.lower().endswith((".fits", ".fit", ".fits.gz", ".fts")):
        primary = fits.getheader(path, 0)
        if "CTYPE1" in primary:
            src = _WcsSource("its primary header", [primary.copy()], primary.copy())
    if src is None:
        for cand in sidecar_candidates(path):
            if is_file(cand):
                src = _wcs_file(cand, "sidecar", sidecar=True)
                if src is not None:
                    break
    if src is None:
        stem = sidecar_candidates(path)[0].stem
        raise InputError(f"{path}: no WCS for this catalog: none in its metadata ('wcs' FITS cards, "
                         f"'gwcs' ASDF file or CTYPE1/CRVAL1 keywords) and no sidecar file ({stem}.hdr, "
                         f"{stem}.fits, {stem}.asdf, ...); pair one with --wcs FILE")
    return src


def _wcs_from_meta(path: Path, meta) -> _WcsSource | None:
    gw = _meta_value(meta, "gwcs")
    if gw is not None:
        if not isinstance(gw, str) or not gw.strip():
            raise InputError(f"{path}: metadata 'gwcs' must name the ASDF file holding the GWCS")
        f = Path(gw.strip())
        f = f if f.is_absolute() else path.parent / f
        return _WcsSource(f"metadata 'gwcs' ({f.name})", gwcs_path=f, file=f)
    cards = _meta_value(meta, "wcs")
    if cards is not None:
        return _WcsSource("metadata 'wcs'", _meta_headers(cards, path))
    if _meta_value(meta, "ctype1") is not None:
        return _WcsSource("metadata keywords", [_header_from_mapping(meta)])
    return None


def _meta_headers(cards, path: Path) -> list[fits.Header]:
    if isinstance(cards, dict):
        headers = [_header_from_mapping(cards)]
    elif isinstance(cards, (list, tuple)) and cards and all(isinstance(c, dict) for c in cards):
        headers = [_header_from_mapping(c) for c in cards]
        for i, h in enumerate(headers):
            h.setdefault("EXTVER", i + 1)
    elif isinstance(cards, str):
        try:
            headers = [fits.Header.fromstring(cards, sep="\n" if "\n" in cards else "")]
        except Exception as e:  # astropy's many header parse errors
            raise InputError(f"{path}: metadata 'wcs' is not a FITS header ({type(e).__name__})") from None
    else:
        raise InputError(f"{path}: metadata 'wcs' must be FITS cards (a mapping, a list of mappings "
                         "one per chip, or header text)")
    if not all("CTYPE1" in h for h in headers):
        raise InputError(f"{path}: metadata 'wcs' has no CTYPE1/CRVAL1 cards")
    return headers


def _header_from_mapping(d) -> fits.Header:
    """A FITS header of the scalar FITS-keyword items of a mapping (table structure left out)."""
    h = fits.Header()
    for k, v in d.items():
        key = str(k).upper()
        if not _KEYWORD.match(key) or _TABLE_KEYWORD.match(key):
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (bool, int, float, str)):
            h[key] = v
    return h


def _wcs_file(f: Path, how: str, sidecar: bool = False) -> _WcsSource | None:
    """The WCS in a FITS file, a text header or a GWCS ASDF file; None when it holds none."""
    where = f"{how} {f.name}"
    if f.name.lower().endswith(".asdf"):
        from tweakgui.engine.io import jwst

        if sidecar and not jwst.is_gwcs_file(f):
            return None
        return _WcsSource(where, gwcs_path=f, file=f)
    check_regular_file(f, "WCS file")
    if not is_file(f):
        raise InputError(f"{f}: WCS file not found")
    headers, primary = _fits_file_headers(f)
    if not headers:
        return None
    return _WcsSource(where, headers, primary, file=f)


def _fits_file_headers(f: Path) -> tuple[list[fits.Header], fits.Header | None]:
    """Chip headers (every SCI extension with a WCS, else the first HDU with one) and the primary."""
    with open(f, "rb") as fh:
        head = fh.read(30)
    if head.startswith(b"SIMPLE"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with fits.open(f, memmap=False) as hdul:
                    primary = hdul[0].header.copy()
                    # an image's SCI extensions, a headerlet's SIPWCS ones, else the first WCS found
                    found = [h for h in hdul if h.name.upper() == "SCI" and "CTYPE1" in h.header]
                    found = found or [h for h in hdul if h.name.upper() == "SIPWCS" and "CTYPE1" in h.header]
                    found = found or [h for h in hdul if "CTYPE1" in h.header][:1]
                    return [_image_header(h) for h in found], primary
        except Exception as e:  # a truncated or corrupt FITS file
            raise InputError(f"{f}: cannot read the WCS file ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:100] if str(e) else ''})") from None
    try:
        text = f.read_text(errors="strict")
        h = fits.Header.fromstring(text, sep="\n" if "\n" in text else "")
    except Exception as e:  # not text, or not FITS cards
        raise InputError(f"{f}: not a FITS file nor a text FITS header ({type(e).__name__})") from None
    return ([h] if "CTYPE1" in h else []), None


def _image_header(hdu) -> fits.Header:
    h = hdu.header.copy()
    if not (hdu.is_image and h.get("NAXIS", 0) == 2):  # table dimensions are not an image size
        for k in ("NAXIS1", "NAXIS2"):
            h.remove(k, ignore_missing=True)
    for k in list(h.keys()):
        if _TABLE_KEYWORD.match(k):
            h.remove(k, ignore_missing=True, remove_all=True)
    h["EXTVER"] = int(h.get("TG_EVER", hdu.ver or 1))  # a headerlet names its target chip
    return h


# ------------------------------------------------------------------ pairing and outputs


def expand_wcs_files(specs) -> list[Path]:
    """``--wcs`` specs (files, comma lists, wildcards) as files, in order."""
    out: list[Path] = []
    for spec in specs or ():
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            if any(ch in part for ch in "*?["):
                found = sorted(glob.glob(part))
                if not found:
                    raise InputError(f"--wcs {part}: wildcard matches no files")
                out += [Path(p) for p in found]
            elif not is_file(part):
                raise InputError(f"--wcs {part}: file not found")
            else:
                out.append(Path(part))
    return out


def pair_wcs_files(items: list[InputItem], specs) -> None:
    """Give each catalog item (``is_catalog``) its ``--wcs`` file, in order; counts must agree."""
    files = expand_wcs_files(specs)
    if not files:
        return
    cats = [it for it in items if it.is_catalog]
    if len(files) != len(cats):
        raise InputError(f"--wcs names {len(files)} file{'s' if len(files) != 1 else ''} for "
                         f"{len(cats)} catalog{'s' if len(cats) != 1 else ''} of --catalogs: give one "
                         "WCS file per catalog, in the same order")
    for it, f in zip(cats, files):
        it.wcs = f


def header_hdulist(exposure: Exposure) -> fits.HDUList:
    """A FITS-WCS catalog input as a data-less HDU list (primary, then one SCI header per chip).

    Chip ``hdu`` indices point into it, so a headerlet can be built from it as from an image.
    """
    primary = exposure.meta.get("primary_header")
    hdus: list = [fits.PrimaryHDU(header=primary.copy() if primary is not None else None)]
    for c in exposure.chips:
        h = fits.ImageHDU(header=c.meta["header"].copy(), name="SCI")
        h.ver = int(c.meta.get("extver", 1))
        hdus.append(h)
    return fits.HDUList(hdus)
