"""Reading JWST imaging data: ``_cal``/``_rate``/``_i2d`` datamodels and GWCS ASDF files.

A JWST image becomes an :class:`~tweakgui.engine.model.Exposure` of kind
``"jwst"`` with one chip whose WCS is the model's GWCS and whose
``meta['wcsinfo']`` holds the reference angles (``v2_ref``, ``v3_ref``,
``roll_ref``, ``ra_ref``, ``dec_ref``) that tweakwcs' JWST corrector needs.

The exposure's ``group_id`` follows jwst's ``ModelLibrary``: built from the
observation attributes as ``jw{program}{observation}{visit}_{visit_group}
{sequence_id}{activity_id}_{exposure_number}``, overridden by the model's
``meta.group_id``, overridden by an explicit ``group_id`` (an ASN member's).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asdf
import numpy as np
from astropy.io import fits
from astropy.time import Time

from tweakgui.engine.io.shared_transforms import read_gwcs_tree
from tweakgui.engine.model import Chip, Exposure, InputError

__all__ = [
    "is_jwst_file",
    "is_gwcs_file",
    "is_asdf_file",
    "read_jwst_exposure",
    "read_jwst_pixels",
    "read_wcs_file",
    "read_wcs_exposure",
    "group_id_from_observation",
    "jwst_root",
    "WCSINFO_REF_KEYS",
    "BAD_DQ",
]

log = logging.getLogger(__name__)

WCSINFO_REF_KEYS = ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")
_OBS_KEYS = ("program_number", "observation_number", "visit_number", "visit_group",
             "sequence_id", "activity_id", "exposure_number")
_SUFFIXES = ("cal", "rate", "rateints", "calints", "i2d", "crf", "flt", "flc", "tweakreg")
_JWST_NAME = re.compile(
    r"jw(?P<program_number>\d{5})(?P<observation_number>\d{3})(?P<visit_number>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<sequence_id>\d)(?P<activity_id>[0-9a-zA-Z]{2})"
    r"_(?P<exposure_number>\d{5})"
)


def _bad_dq() -> int:
    from stdatamodels.jwst.datamodels import dqflags

    # the flags jwst's tweakreg catalog step masks: unusable and non-science pixels
    return int(dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["NON_SCIENCE"])


BAD_DQ = _bad_dq()


def jwst_root(path: str | Path) -> str:
    """Output root of a JWST file: the name without ``.fits`` and a pipeline suffix."""
    name = Path(path).name
    for ext in (".fits.gz", ".fits", ".fit", ".asdf"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    stem, _, suffix = name.rpartition("_")
    if stem and suffix.lower() in _SUFFIXES:
        return stem
    return name


def observation_from_filename(path: str | Path) -> dict[str, str] | None:
    """Observation attributes parsed from a JWST file name (``jw01345001001_02201_00001_...``)."""
    m = _JWST_NAME.search(Path(path).name)
    return m.groupdict() if m else None


def group_id_from_observation(obs: dict) -> str:
    """jwst's group_id string from ``meta.observation`` attributes.

    Raises ``KeyError`` naming the first missing attribute.
    """
    for k in _OBS_KEYS:
        if obs.get(k) in (None, ""):
            raise KeyError(k)
    return (f"jw{obs['program_number']}{obs['observation_number']}{obs['visit_number']}"
            f"_{obs['visit_group']}{obs['sequence_id']}{obs['activity_id']}"
            f"_{obs['exposure_number']}")


def is_jwst_file(path: str | Path) -> bool:
    """True for a FITS file written as a JWST datamodel (ASDF extension, TELESCOP or DATAMODL)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            hdr = hdul[0].header
            if "DATAMODL" in hdr or str(hdr.get("TELESCOP", "")).strip().upper() == "JWST":
                return True
            return any(h.name == "ASDF" for h in hdul)
    except (OSError, ValueError, IndexError):
        return False


def is_asdf_file(path: str | Path) -> bool:
    """True for a file that starts as an ASDF file does (its content is not read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(5) == b"#ASDF"
    except OSError:
        return False


def is_gwcs_file(path: str | Path) -> bool:
    """True for an ASDF file whose tree has a GWCS under ``wcs`` (a standalone WCS file)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        if not is_asdf_file(path):
            return False
        with asdf.open(path, lazy_load=True, memmap=False) as af:
            return hasattr(af.tree.get("wcs"), "pipeline")
    except Exception:  # any unreadable file is simply not a WCS file
        return False


def open_model(path: Path):
    """Open a JWST datamodel; any failure is an InputError naming the file."""
    from stdatamodels.jwst import datamodels

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return datamodels.open(str(path))
    except Exception as exc:  # stdatamodels raises many types for a bad file
        raise InputError(f"{path}: cannot be read as a JWST datamodel ({exc})") from None


def _wcsinfo_dict(wcsinfo) -> dict:
    d = dict(wcsinfo.instance) if hasattr(wcsinfo, "instance") else dict(wcsinfo or {})
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def _observation_epoch(obs: dict) -> tuple[str | None, float | None]:
    date = obs.get("date")
    if not date:
        return None, None
    stamp = f"{date}T{obs['time']}" if obs.get("time") else str(date)
    try:
        t = Time(stamp, scale="utc")
    except ValueError:
        log.warning("cannot parse observation date %r", stamp)
        return str(date), None
    return t.isot, float(t.decimalyear)


def _check_v2v3(path: Path, wcs) -> None:
    frames = list(getattr(wcs, "available_frames", []) or [])
    if "v2v3" not in frames and "v2v3vacorr" not in frames:
        raise InputError(
            f"{path}: the GWCS has no v2v3 frame (frames: {' -> '.join(frames)}; a resampled "
            f"i2d?); aligning a JWST image needs its detector -> v2v3 -> world WCS"
        )


def _ensure_bounding_box(wcs, shape: tuple[int, int]) -> None:
    if wcs.bounding_box is None:
        ny, nx = shape
        wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))


def read_jwst_exposure(path: str | Path, group_id: str | None = None) -> Exposure:
    """Read a JWST imaging datamodel file into an :class:`Exposure`.

    Parameters
    ----------
    path : str or Path
        A ``_cal.fits``-like file (a FITS file with an ASDF extension holding
        ``meta.wcs``).
    group_id : str, optional
        The ASN member's group_id; overrides the model's own grouping.

    Returns
    -------
    Exposure
        ``kind='jwst'``, one chip ``"SCI"`` with the GWCS and
        ``meta['wcsinfo']``; ``exposure.meta`` holds ``observation`` (dict),
        ``date_obs`` (ISO), ``epoch`` (decimal year), ``instrument``,
        ``detector``, ``filter``, ``pupil``, ``group_source`` (where the
        group_id came from: ``"argument"``, ``"meta.group_id"``,
        ``"observation"`` or ``"file"``) and ``wcs_name``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with open_model(path) as model:
        wcs = model.meta.wcs
        if wcs is None:
            raise InputError(f"{path}: no GWCS in meta.wcs (run assign_wcs first)")
        data_shape = tuple(int(n) for n in model.data.shape[-2:])
        wcsinfo = _wcsinfo_dict(model.meta.wcsinfo)
        missing = [k for k in ("v2_ref", "v3_ref", "roll_ref") if wcsinfo.get(k) is None]
        if missing:
            raise InputError(f"{path}: meta.wcsinfo lacks {', '.join(missing)}")
        _check_v2v3(path, wcs)
        obs = {k: v for k, v in dict(model.meta.observation.instance).items() if v is not None}
        inst = dict(model.meta.instance.get("instrument", {}))
        meta_group = model.meta.instance.get("group_id")
        wcs_name = getattr(wcs, "name", None)
    _ensure_bounding_box(wcs, data_shape)
    gid, source = _group_of(path, group_id, meta_group, obs)
    date_obs, epoch = _observation_epoch(obs)
    chip = Chip(name="SCI", hdu=1, shape=data_shape, wcs=wcs,
                meta={"wcsinfo": wcsinfo, "detector": inst.get("detector")})
    meta = {
        "observation": obs,
        "date_obs": date_obs,
        "epoch": epoch,
        "instrument": inst.get("name"),
        "detector": inst.get("detector"),
        "filter": inst.get("filter"),
        "pupil": inst.get("pupil"),
        "group_source": source,
        "wcs_name": wcs_name,
    }
    return Exposure(path=path, kind="jwst", chips=[chip], group_id=gid,
                    root=jwst_root(path), meta=meta)


def _group_of(path: Path, group_id, meta_group, obs: dict) -> tuple[str, str]:
    """The exposure's group id and where it came from: the ASN, ``meta.group_id``, the observation, the file."""
    if group_id:
        return str(group_id), "argument"
    if meta_group:
        return str(meta_group), "meta.group_id"
    try:
        return group_id_from_observation(obs), "observation"
    except KeyError as missing_key:
        log.warning("%s: meta.observation lacks %s; grouped on its own", path.name, missing_key.args[0])
        return jwst_root(path), "file"


def read_jwst_pixels(exposure: Exposure, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """Science pixels and the mask of pixels to ignore (True = bad).

    Masked are non-finite pixels and those whose DQ has ``DO_NOT_USE`` or
    ``NON_SCIENCE`` set (what jwst's tweakreg catalog step masks).
    """
    with open_model(exposure.path) as model:
        data = np.array(model.data, dtype=np.float32)
        mask = ~np.isfinite(data)
        dq = model.dq if model.hasattr("dq") else None
        if dq is not None and np.shape(dq) == data.shape:
            mask |= (np.asarray(dq) & BAD_DQ) != 0
    if data.shape != tuple(chip.shape):
        raise InputError(f"{exposure.path}: data shape {data.shape} differs from {chip.shape}")
    data[mask] = 0.0
    return data, mask


def read_wcs_file(path: str | Path, shared: dict | None = None):
    """Read a standalone GWCS ASDF file (``{wcs[, wcsinfo, filename]}``, the CEERS layout).

    Parameters
    ----------
    path : str or Path
    shared : dict, optional
        Transforms already read from other files of the visit, by content;
        a step whose transform is there is not built again but shared (see
        :mod:`tweakgui.engine.io.shared_transforms`), new ones are added.

    Returns
    -------
    (gwcs.WCS, dict)
        The WCS and its ``wcsinfo`` (empty dict when the file has none).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    read = None
    if shared is not None:
        try:
            read = read_gwcs_tree(path, shared)
        except Exception:  # any problem: the usual reading below, which names a bad file's fault
            log.debug("%s: read without shared transforms", path, exc_info=True)
    try:
        if read is not None:
            wcs, wcsinfo = read
        else:
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                tree = af.tree
                wcs = tree.get("wcs")
                wcsinfo = dict(tree.get("wcsinfo") or {})
    except Exception as exc:  # asdf raises many types for a bad file
        raise InputError(f"{path}: not a readable GWCS file (cannot be read as ASDF: {exc})") from None
    if wcs is None or not hasattr(wcs, "pipeline"):
        raise InputError(f"{path}: not a readable GWCS file (no GWCS under the 'wcs' key)")
    return wcs, {k: (v.item() if isinstance(v, np.generic) else v) for k, v in wcsinfo.items()}


def read_wcs_exposure(path: str | Path, group_id: str | None = None, shared: dict | None = None) -> Exposure:
    """A standalone GWCS ASDF file as an exposure without pixels (a WCS source).

    It can be aligned from a custom catalog; ``exposure.meta['has_pixels']``
    is False.  The group_id comes from the argument, else from the file name.
    ``shared``: see :func:`read_wcs_file`.
    """
    path = Path(path)
    wcs, wcsinfo = read_wcs_file(path, shared)
    missing = [k for k in ("v2_ref", "v3_ref", "roll_ref") if wcsinfo.get(k) is None]
    if missing:
        raise InputError(f"{path}: wcsinfo lacks {', '.join(missing)}")
    _check_v2v3(path, wcs)
    if wcs.pixel_shape is not None:
        nx, ny = wcs.pixel_shape
    elif wcs.bounding_box is not None:
        (x0, x1), (y0, y1) = (tuple(iv) for iv in wcs.bounding_box.bounding_box(order="F"))
        nx, ny = int(round(x1 - x0)), int(round(y1 - y0))
    else:
        raise InputError(f"{path}: the GWCS has neither pixel_shape nor bounding_box")
    obs = observation_from_filename(path) or {}
    if group_id:
        gid, source = str(group_id), "argument"
    elif obs:
        gid, source = group_id_from_observation(obs), "file name"
    else:
        gid, source = jwst_root(path), "file"
    chip = Chip(name="SCI", hdu=1, shape=(int(ny), int(nx)), wcs=wcs, meta={"wcsinfo": wcsinfo})
    return Exposure(path=path, kind="jwst", chips=[chip], group_id=gid, root=jwst_root(path),
                    meta={"observation": obs, "date_obs": None, "epoch": None,
                          "group_source": source, "has_pixels": False,
                          "wcs_name": getattr(wcs, "name", None)})
