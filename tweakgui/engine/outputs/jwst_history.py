"""WCS history of JWST datamodels: archive the GWCS before an in-place change, list, restore.

A JWST ``_cal.fits`` file keeps its GWCS and ``meta.wcsinfo`` in the ASDF
extension of the FITS file.  The history lives in the same tree, under the
top-level key :data:`HISTORY_KEY`: a list of entries
``{wcs, wcsinfo, name, date, reason, cal_step_tweakreg}``, oldest first.
stdatamodels keeps unknown top-level keys of the tree through open and save
(checked with stdatamodels 6), so no sidecar file is needed, and the archive
is written in the *same* temporary file as the new WCS: the atomic rename
makes the file either the old one (old WCS, no new entry) or the new one (new
WCS and the old one archived).  A crash can never lose the old WCS.

Entries are only appended, never changed or removed.  A WCS identical to one
already archived (same ASDF serialization of the GWCS, same ``wcsinfo``) is
not archived twice, e.g. after :func:`restore_jwst` brought back entry 1.
Entry numbers start at 1; entry 1 is the WCS the file had before tweakgui
first changed it.
"""

from __future__ import annotations

import copy
import io
import logging
from datetime import datetime, timezone
from pathlib import Path

import asdf

from tweakgui.engine.io.atomic import atomic_path
from tweakgui.engine.io.jwst import open_model
from tweakgui.engine.model import InputError

__all__ = [
    "HISTORY_KEY",
    "archive_model_wcs",
    "model_history",
    "jwst_wcs_history",
    "restore_jwst",
    "save_model_atomic",
]

log = logging.getLogger(__name__)

HISTORY_KEY = "tweakgui_wcs_history"


def _serialize(obj) -> bytes:
    buf = io.BytesIO()
    af = asdf.AsdfFile({"obj": obj})
    af.write_to(buf, all_array_storage="inline")
    # the header names the asdf library and extensions only: same process, same header
    return buf.getvalue()


def _copy(wcs):
    """An independent copy of a GWCS through ASDF (exact: what the file would hold)."""
    with asdf.open(io.BytesIO(_serialize(wcs)), lazy_load=False, memmap=False) as af:
        return af["obj"]


def model_history(model) -> list:
    """The history list of an open datamodel (the live list in its tree; empty when none)."""
    hist = model.instance.get(HISTORY_KEY)
    return hist if isinstance(hist, list) else []


def _current(model) -> tuple:
    # a model without a GWCS (None) is archived as such: restoring it removes meta.wcs
    return model.meta.instance.get("wcs"), copy.deepcopy(dict(model.meta.wcsinfo.instance))


def _same(entry: dict, wcs_bytes: bytes, wcsinfo: dict) -> bool:
    return dict(entry.get("wcsinfo") or {}) == wcsinfo and _serialize(entry.get("wcs")) == wcs_bytes


def archive_model_wcs(model, reason: str = "") -> int:
    """Append the current GWCS and ``meta.wcsinfo`` of ``model`` to its history.

    Call this on the open model before changing its WCS; the entry is saved
    with the model.

    Parameters
    ----------
    model : stdatamodels.jwst.datamodels.JwstDataModel
        The open datamodel.
    reason : str
        Why the WCS is replaced (``"align --in_place"``, ``"apply-wcs F"``...).

    Returns
    -------
    int
        The entry number (1-based) holding the current WCS; an existing one
        when the WCS is already archived identically.
    """
    wcs, wcsinfo = _current(model)
    raw = _serialize(wcs)
    hist = model_history(model)
    for i, entry in enumerate(hist, 1):
        if _same(entry, raw, wcsinfo):
            return i
    entry = {
        "wcs": None if wcs is None else _copy(wcs),
        "wcsinfo": wcsinfo,
        "name": str(getattr(wcs, "name", "") or ""),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reason": reason,
        "cal_step_tweakreg": model.meta.cal_step.instance.get("tweakreg"),
    }
    model.instance[HISTORY_KEY] = [*hist, entry]
    log.debug("archived WCS %r as entry %d", entry["name"], len(hist) + 1)
    return len(hist) + 1


def save_model_atomic(model, target: Path) -> None:
    """Write ``model`` as FITS over ``target`` through a temporary file and an atomic rename.

    A symbolic link is followed (the file it names is replaced, the link
    stays) and the permissions of a replaced file are kept.  ``meta.filename``
    is left as the caller set it.

    Raises
    ------
    OutputError
        When writing fails (disk full, permission, ...); ``target`` is intact.
    """
    target = Path(target).resolve()
    with atomic_path(target) as tmp:
        # the temporary name ends in .fits, so stdatamodels writes FITS; a Path
        # (not a str) leaves meta.filename alone
        model.to_fits(tmp, overwrite=True)


def jwst_wcs_history(path: str | Path) -> list[dict]:
    """List the WCSs of a JWST datamodel: the current one, then every archived one.

    Returns
    -------
    list of dict
        ``key`` (``' '`` for the current WCS, else the entry number as a
        string), ``name`` (the GWCS name), ``date``, ``reason``, ``primary``
        (True for the current WCS) and ``original`` (True for entry 1).
    """
    path = Path(path)
    with open_model(path) as model:
        wcs, _ = _current(model)
        out = [{"key": " ", "name": str(getattr(wcs, "name", "") or ""), "date": "", "reason": "",
                "primary": True, "original": False}]
        for i, e in enumerate(model_history(model), 1):
            out.append({"key": str(i), "name": str(e.get("name", "")), "date": str(e.get("date", "")),
                        "reason": str(e.get("reason", "")), "primary": False, "original": i == 1})
    return out


def _pick(path: Path, hist: list, key, name) -> int:
    listing = ", ".join(f"{i}={e.get('name', '')}" for i, e in enumerate(hist, 1)) or "none"
    if name is not None:
        matches = [i for i, e in enumerate(hist, 1) if str(e.get("name", "")) == name]
        if not matches:
            raise InputError(f"{path}: no archived WCS named {name!r} (archived: {listing})")
        return matches[-1]
    if not hist:
        raise InputError(f"{path}: no WCS archived by tweakgui (archived: none)")
    if key is None:
        return 1
    try:
        n = int(str(key).strip())
    except ValueError:
        n = 0
    if not 1 <= n <= len(hist):
        raise InputError(f"{path}: no archived WCS with key {key!r} (archived: {listing})")
    return n


def restore_jwst(path: str | Path, key=None, name: str | None = None) -> str:
    """Bring back an archived GWCS and ``meta.wcsinfo`` of a JWST datamodel, exactly.

    The current WCS is archived first (unless already archived identically),
    and the file is replaced atomically.

    Parameters
    ----------
    path : str or Path
        The datamodel file (e.g. one aligned with ``--in_place``).
    key : str or int, optional
        The entry number to restore; default 1, the WCS before tweakgui
        first changed the file.
    name : str, optional
        Choose the latest entry with this GWCS name instead.

    Returns
    -------
    str
        The entry number restored.

    Raises
    ------
    InputError
        Missing or unreadable file, no such entry (the message lists them).
    """
    path = Path(path)
    with open_model(path) as model:
        hist = model_history(model)
        n = _pick(path, hist, key, name)
        entry = hist[n - 1]
        saved = archive_model_wcs(model, reason=f"restore of entry {n}")
        if entry.get("wcs") is None:
            model.meta.instance.pop("wcs", None)
        else:
            model.meta.wcs = _copy(entry["wcs"])
        info = model.meta.wcsinfo.instance
        info.clear()
        info.update(copy.deepcopy(dict(entry["wcsinfo"])))
        step = entry.get("cal_step_tweakreg")
        if step is None:
            model.meta.cal_step.instance.pop("tweakreg", None)
        else:
            model.meta.cal_step.tweakreg = step
        model.add_history_entry(f"tweakgui: restored WCS entry {n} ({entry.get('name', '')}); "
                                f"previous WCS archived as entry {saved}")
        save_model_atomic(model, path)
    log.info("%s: restored WCS entry %d (%s); previous one kept as entry %d",
             path, n, entry.get("name", ""), saved)
    return str(n)
