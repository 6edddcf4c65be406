"""Exclusion masks for source finding, in drizzlepac TweakReg's format.

An *exclusions file* has one line per image: the image name, then one entry
per chip (``SCI,1``, ``SCI,2``, ... order), each a DS9 region file, a FITS mask
or ``None``/``INDEF`` for "no exclusions on this chip".  Paths are relative to
the exclusions file.  Lines starting with ``#`` and blank lines are ignored.

A *region file* is read with ``regions``.  Regions are applied in file order
exactly as drizzlepac (through pyregion) does: include regions add their
pixels to the searchable area, exclude regions (``-`` prefix) remove them
from what was included so far.  When every region is an exclude region the
search area starts as the whole image.  Sky regions (fk5, icrs, galactic...)
are projected to pixels through the chip's WCS (astropy or gwcs): centres and
vertices are transformed and sizes scaled by the local Jacobian.

A *FITS mask* is non-zero where pixels are good; 0 means excluded.

All masks returned here are boolean arrays, True where a pixel is EXCLUDED,
ready to pass as ``mask`` to :func:`tweakgui.engine.detect.finders.detect_sources`.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from tweakgui.engine.model import InputError

__all__ = [
    "read_exclusions_file",
    "exclusions_for",
    "exclusion_mask",
    "region_mask",
    "fits_mask",
    "regions_from_file",
    "write_ds9_regions",
    "is_include",
    "region_to_pixel",
]

log = logging.getLogger(__name__)

_NONE = {"", "none", "indef"}
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")


def read_exclusions_file(path) -> dict[str, list[str | None]]:
    """Parse a drizzlepac exclusions file.

    Parameters
    ----------
    path : str or pathlib.Path
        The exclusions file.

    Returns
    -------
    dict
        Image base name -> list with one entry per chip: the absolute path of
        a region file or FITS mask, or None.  An image listed alone has an
        empty list (no exclusions).

    Raises
    ------
    InputError
        The file, or a file it names, does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"exclusions file {path}: not found")
    root = path.resolve().parent
    out: dict[str, list[str | None]] = {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"exclusions file {path}: cannot read ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        image, *entries = line.split()
        chips: list[str | None] = []
        for e in entries:
            if e.lower() in _NONE:
                chips.append(None)
                continue
            f = Path(e) if os.path.isabs(e) else root / e
            if not f.is_file():
                raise InputError(f"exclusions file {path} line {lineno}: {e} not found "
                                 f"(looked for {f})")
            chips.append(str(f))
        key = os.path.basename(image)
        if key in out:
            log.warning("exclusions file %s line %d: %s listed again; this line wins",
                        path, lineno, key)
        out[key] = chips
    return out


def exclusions_for(exclusions: dict | None, image_name: str, nchips: int) -> list[str | None]:
    """The per-chip entries of ``image_name``, padded with None to ``nchips``.

    Extra entries beyond the number of chips are ignored, as in drizzlepac.
    """
    entries = (exclusions or {}).get(os.path.basename(str(image_name)), [])
    return (list(entries) + [None] * nchips)[:nchips]


def exclusion_mask(spec, shape, wcs=None) -> np.ndarray | None:
    """The exclusion mask of one chip from a region file or FITS mask, or None.

    ``spec`` None, empty, ``"None"`` or ``"INDEF"`` means no exclusions.  A
    file is taken as a FITS mask when its name ends in ``.fits`` (or ``.fit``,
    ``.fts``, gzipped) or it starts with a FITS header, else as a DS9 region file.
    """
    if spec is None or str(spec).strip().lower() in _NONE:
        return None
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"exclusion file {path}: not found")
    if _is_fits(path):
        return fits_mask(path, shape)
    return region_mask(path, shape, wcs=wcs)


def _is_fits(path: Path) -> bool:
    if path.name.lower().endswith(_FITS_SUFFIXES):
        return True
    with open(path, "rb") as f:
        return f.read(9) == b"SIMPLE  ="


def fits_mask(path, shape) -> np.ndarray:
    """Excluded pixels (True) of a FITS mask whose zero (or NaN) pixels are bad.

    The first image HDU with the chip's ``shape`` is used, as in drizzlepac.
    """
    from astropy.io import fits

    path = Path(path)
    shape = tuple(int(s) for s in shape)
    try:
        with fits.open(path, memmap=False) as hdul:
            shapes = []
            for hdu in hdul:
                if getattr(hdu, "is_image", False) and hdu.data is not None and hdu.data.ndim == 2:
                    if hdu.data.shape == shape:
                        data = np.asarray(hdu.data)
                        return (data == 0) | ~np.isfinite(data)
                    shapes.append(hdu.data.shape)
    except OSError as exc:
        raise InputError(f"mask file {path}: not a readable FITS file ({exc})") from None
    found = ", ".join(str(s) for s in shapes) or "no 2D image"
    raise InputError(f"mask file {path}: shape {found} does not match the chip shape {shape}")


def regions_from_file(path) -> list:
    """Parse a DS9 region file into a list of ``regions`` objects.

    Every region's ``meta['include']`` is set (1 for include regions, 0 for
    exclude regions written with a ``-`` prefix or ``include=0``), so that
    the list can be edited and written back with :func:`write_ds9_regions`.
    Pixel regions are 0-based (``regions`` converts DS9's 1-based pixels).
    """
    from regions import Regions

    path = Path(path)
    if not path.is_file():
        raise InputError(f"region file {path}: not found")
    text = path.read_text(errors="replace")
    # regions does not know DS9's "physical" system; on full-frame images it is
    # the image system (pyregion, which drizzlepac uses, reads it the same way)
    text, n_phys = _PHYSICAL.subn(r"\1image", text)
    if n_phys:
        log.info("region file %s: 'physical' coordinates read as image pixels", path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            regs = list(Regions.parse(text, format="ds9"))
    except Exception as exc:  # regions raises many types on malformed shapes
        raise InputError(f"region file {path}: cannot parse DS9 regions ({exc})") from None
    if not regs and _has_content(text):
        why = f" ({caught[0].message})" if caught else ""
        raise InputError(f"region file {path}: no DS9 regions found{why}")
    for r in regs:
        r.meta["include"] = 1 if is_include(r) else 0
    return regs


_PHYSICAL = re.compile(r"(?im)(^|;)\s*physical\s*(?=;|#|$)")


def _has_content(text: str) -> bool:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#") and not s.startswith("global") and \
                s.lower() not in ("image", "physical", "fk5", "fk4", "icrs", "galactic", "ecliptic"):
            return True
    return False


def is_include(region) -> bool:
    """True for an include region, False for an exclude (``-``) region."""
    return bool(int(region.meta.get("include", 1)))


def _wcs_frame(wcs):
    """The celestial frame of a WCS (astropy or gwcs), without data."""
    sc = wcs.pixel_to_world(0.0, 0.0)
    return sc.frame.replicate_without_data()


def _in_frame(region, frame):
    """``region`` with its centre and angle expressed in ``frame``.

    ``regions`` transforms a centre to the WCS's frame but keeps the angle,
    which DS9 measures in the region's own frame (e.g. galactic).  DS9's angle
    runs from the frame's -longitude axis towards +latitude, so it changes by
    minus the angle of the region frame's +longitude axis seen in ``frame``.
    """
    import astropy.units as u

    if not hasattr(region, "angle") or not hasattr(region, "center"):
        return region
    from astropy.coordinates import SkyCoord

    c = region.center
    # through bare frames: a SkyCoord would carry e.g. FK5's equinox along
    g = SkyCoord(c.frame.transform_to(frame))
    ahead = SkyCoord(c.spherical_offsets_by(1.0 * u.arcsec, 0.0 * u.arcsec).frame.transform_to(frame))
    dlon, dlat = g.spherical_offsets_to(ahead)
    phi = np.arctan2(dlat.to_value(u.rad), dlon.to_value(u.rad)) * u.rad
    out = copy.deepcopy(region)
    out.center = g
    out.angle = (region.angle - phi).to(u.deg)
    return out


def _as_pixel(region, wcs, frame=None):
    """The pixel version of ``region`` (already pixel regions pass through)."""
    from regions import CircleSkyRegion, PixelRegion

    if isinstance(region, PixelRegion):
        return region
    if wcs is None:
        raise ValueError("sky region needs a WCS")
    if frame is not None:
        region = _in_frame(region, frame)
    if isinstance(region, CircleSkyRegion):
        # an ellipse follows the local pixel-scale anisotropy of a distorted WCS
        return region.to_pixel(wcs, as_ellipse=True)
    return region.to_pixel(wcs)


def region_to_pixel(region, wcs=None):
    """The pixel version of a sky or pixel region on a chip with ``wcs``.

    Unlike ``region.to_pixel(wcs)``, the angle of an ellipse or box given in
    another frame than the WCS's (e.g. galactic on an ICRS WCS) is converted,
    and a gwcs's bounding box does not turn vertices beyond it into NaN.
    """
    from regions import PixelRegion

    if isinstance(region, PixelRegion):
        return region
    if wcs is None:
        raise ValueError("a sky region needs the chip's WCS")
    wcs = _unbounded(wcs)
    return _as_pixel(region, wcs, _wcs_frame(wcs))


def _unbounded(wcs):
    """A copy of a gwcs without its bounding box (regions near the edge stay finite)."""
    if getattr(wcs, "forward_transform", None) is not None and getattr(wcs, "bounding_box", None) is not None:
        w = copy.deepcopy(wcs)
        try:
            w.bounding_box = None
            return w
        except Exception:  # pragma: no cover - exotic gwcs
            return wcs
    return wcs


def region_mask(path, shape, wcs=None) -> np.ndarray:
    """Excluded pixels (True) from a DS9 region file, drizzlepac's semantics.

    Parameters
    ----------
    path : str or pathlib.Path
        The DS9 region file (image/physical or sky coordinates).
    shape : tuple of int
        ``(ny, nx)`` of the chip.
    wcs : astropy.wcs.WCS or gwcs.WCS, optional
        Needed when the file holds sky regions.

    Returns
    -------
    numpy.ndarray of bool
        True where sources must not be searched for.  Regions without an
        area (points, lines, text) are ignored.
    """
    from regions import PixelRegion

    ny, nx = (int(s) for s in shape)
    regs = regions_from_file(path)
    if any(not isinstance(r, PixelRegion) for r in regs):
        if wcs is None:
            raise InputError(f"region file {path}: sky regions need the chip's WCS")
        wcs = _unbounded(wcs)
        frame = _wcs_frame(wcs)
    else:
        frame = None
    areas = [a for i, r in enumerate(regs, 1) if (a := _region_area(path, i, r, wcs, frame, ny, nx))]
    if not areas:
        log.warning("region file %s has no region with an area: nothing excluded", path)
        return np.zeros((ny, nx), dtype=bool)
    if all(not inc for inc, _, _ in areas):
        usable = np.ones((ny, nx), dtype=bool)
    else:
        usable = np.zeros((ny, nx), dtype=bool)
        first_inc = next(i for i, (inc, _, _) in enumerate(areas) if inc)
        if first_inc:
            log.warning("region file %s: %d exclude region(s) before the first include "
                        "region have no effect (drizzlepac applies regions in order)",
                        path, first_inc)
    for inc, big, cut in areas:
        if big is None:  # off the chip
            continue
        if inc:
            usable[big] |= cut
        else:
            usable[big] &= ~cut
    return ~usable


def _region_area(path, i: int, region, wcs, frame, ny: int, nx: int):
    """``(include?, chip slices, cutout mask)`` of region ``i`` on the chip, or None without an area."""
    try:
        pix = _as_pixel(region, wcs, frame)
        if _much_larger(pix, ny, nx):
            # a region far larger than the chip: test the chip's pixel centres
            # (a mask of the region itself could need gigabytes)
            big, cut = _contains_on_chip(pix, ny, nx)
        else:
            m = pix.to_mask(mode="center")
            # keep only the cutout: a full-size array per region is slow on big chips
            big, small = m.get_overlap_slices((ny, nx))
            cut = None if big is None else np.asarray(m.data[small], dtype=bool)
    except (AttributeError, NotImplementedError, TypeError):
        log.debug("region %d of %s (%s) has no area: ignored", i, path, type(region).__name__)
        return None
    except (ValueError, OverflowError, IndexError) as exc:  # IndexError: polygon()
        raise InputError(f"region file {path}: region {i} ({type(region).__name__}) "
                         f"cannot be projected on the chip ({exc})") from None
    return is_include(region), big, cut


def _much_larger(pix, ny: int, nx: int) -> bool:
    try:
        bb = pix.bounding_box
        return (bb.ixmax - bb.ixmin) * (bb.iymax - bb.iymin) > 4 * nx * ny + 10_000
    except (OverflowError, ValueError):  # infinite or absurd sizes
        return True


def _contains_on_chip(pix, ny: int, nx: int):
    from regions import PixCoord

    if not getattr(pix, "area", 0):  # a long line or the like: no area, as to_mask would say
        raise TypeError("region has no area")
    yy, xx = np.mgrid[0:ny, 0:nx]
    inside = np.asarray(pix.contains(PixCoord(xx.ravel(), yy.ravel())), dtype=bool)
    if inside.shape != (ny * nx,):
        raise TypeError("region has no area")
    return (slice(0, ny), slice(0, nx)), inside.reshape(ny, nx)


_SHAPE_LINE = re.compile(r"^[a-z]+\(")


def write_ds9_regions(regions_list, path, wcs=None, sky=False) -> Path:
    """Write regions to a DS9 region file, atomically.

    Parameters
    ----------
    regions_list : list of regions.Region
        Pixel or sky regions; ``meta['include'] == 0`` marks exclude regions,
        written with DS9's ``-`` prefix (what drizzlepac and DS9 read).
    path : str or pathlib.Path
        Output file.
    wcs : astropy.wcs.WCS or gwcs.WCS, optional
        Needed to convert between pixel and sky regions.
    sky : bool, optional
        Write sky (ICRS/FK5, as given by the WCS) rather than image coordinates.
    """
    from regions import PixelRegion, Regions

    path = Path(path)
    out = []
    for r in regions_list:
        is_pix = isinstance(r, PixelRegion)
        if sky and is_pix:
            if wcs is None:
                raise ValueError("writing sky regions from pixel regions needs a WCS")
            r2 = r.to_sky(wcs)
        elif not sky and not is_pix:
            if wcs is None:
                raise ValueError("writing pixel regions from sky regions needs a WCS")
            r2 = r.to_pixel(wcs)
        else:
            r2 = copy.deepcopy(r)
        r2.meta = {k: v for k, v in r.meta.items() if k != "include"}
        out.append(r2)
    text = Regions(out).serialize(format="ds9") if out else "# Region file format: DS9\n"
    lines = text.splitlines()
    shape_idx = [i for i, s in enumerate(lines) if _SHAPE_LINE.match(s)]
    if len(shape_idx) == len(regions_list):
        for i, r in zip(shape_idx, regions_list):
            if not is_include(r):
                lines[i] = "-" + lines[i]
    else:  # pragma: no cover - a shape serialised on several lines
        log.warning("could not place exclude prefixes; writing include=0 properties")
        for r2, r in zip(out, regions_list):
            r2.meta["include"] = 1 if is_include(r) else 0
        lines = Regions(out).serialize(format="ds9").splitlines()
    _atomic_write(path, "\n".join(lines) + "\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
