"""Bringing an archived WCS back: ``tweakgui restore`` and applying a headerlet.

The archive itself (alternate WCS letters, ``TWKORIG``) is
:mod:`tweakgui.engine.outputs.history`.  :func:`restore` brings back the WCS
an image had before tweakgui first changed it, or any archived one by letter
or name; the current WCS is archived first, so nothing is lost.  JWST
datamodels keep their history in the datamodel
(:mod:`tweakgui.engine.outputs.jwst_history`), where keys are entry numbers
(1 is the original).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tweakgui.engine.io.atomic import transaction
from tweakgui.engine.io.jwst import is_jwst_file
from tweakgui.engine.model import InputError
from tweakgui.engine.outputs.fitsio import check_sip, set_primary_wcs, write_hdulist
from tweakgui.engine.outputs.headerlet import attached_headerlets, read_headerlet
from tweakgui.engine.outputs.history import (
    archive_current_wcs,
    as_archived,
    read_fits,
    replace_primary_wcs,
    science_hdus,
    wcs_cards,
    wcs_history,
    wcs_keys_in_use,
)
from tweakgui.engine.outputs.jwst_history import restore_jwst

__all__ = ["restore", "restore_main", "apply_headerlet"]

log = logging.getLogger(__name__)


def restore(path: str | Path, key: str | None = None, name: str | None = None) -> str:
    """Bring back an archived WCS as the primary WCS of every science HDU.

    The current primary WCS is archived first (unless already archived
    identically), so nothing is lost.  The file is replaced atomically.

    Parameters
    ----------
    path : str or Path
        The FITS image (e.g. one updated with ``--in_place``); a JWST
        datamodel goes to :func:`~tweakgui.engine.outputs.jwst_history.restore_jwst`.
    key : str, optional
        The alternate WCS letter to restore (for JWST, the history entry
        number); default: the WCS the image had before tweakgui first
        changed it (``TWKORIG``).
    name : str, optional
        Choose the WCS by its WCSNAME instead (the latest letter with it).

    Returns
    -------
    str
        The letter restored.

    Raises
    ------
    InputError
        Missing file, not FITS, no such archived WCS (the message lists
        those available).
    """
    path = Path(path)
    if is_jwst_file(path):
        return restore_jwst(path, key=key, name=name)
    with read_fits(path) as hdul:
        hdus = science_hdus(hdul)
        if not hdus:
            raise InputError(f"{path}: no image extension with a WCS")
        first = hdul[hdus[0]].header
        key = _chosen_key(path, hdul, hdus, key, name)
        target = [as_archived(wcs_cards(hdul[i].header, key)) for i in hdus]
        saved = archive_current_wcs(hdul, hdus)
        for i, cards in zip(hdus, target):
            replace_primary_wcs(hdul[i].header, cards)
        wname = first.get("WCSNAME", "")
        hdul[0].header.add_history(
            f"tweakgui: restored WCS {key} ({wname}); previous WCS archived as {saved}")
        write_hdulist(hdul, path.resolve())
    log.info("%s: restored WCS %s (%s); previous one kept as %s", path, key, wname, saved)
    return key


def _chosen_key(path, hdul, hdus, key: str | None, name: str | None) -> str:
    """The archived WCS letter asked for (by key, by name, or tweakgui's first archive); listed if absent."""
    first = hdul[hdus[0]].header
    available = sorted(set.intersection(*(wcs_keys_in_use(hdul[i].header) for i in hdus)))
    listing = ", ".join(f"{k}={first.get('WCSNAME' + k, '')!s}" for k in available) or "none"
    if name is not None:
        matches = [k for k in available if str(first.get("WCSNAME" + k, "")).strip() == name]
        if not matches:
            raise InputError(f"{path}: no archived WCS named {name!r} (archived: {listing})")
        key = matches[-1]
    if key is None:
        key = str(hdul[0].header.get("TWKORIG", "")).strip()
        if not key:
            raise InputError(f"{path}: no WCS archived by tweakgui; choose one with a key "
                             f"(archived: {listing})")
    key = key.strip().upper()
    if key not in available:
        raise InputError(f"{path}: no archived WCS with key {key!r} (archived: {listing})")
    return key


def apply_headerlet(path: str | Path, headerlet: str | Path) -> str:
    """Make the WCS of a headerlet the primary WCS of an image, archiving the current one.

    This applies a saved solution again (e.g. one written by
    :func:`~tweakgui.engine.outputs.headerlet.write_headerlet`).  ``headerlet`` is a
    headerlet file, or the HDRNAME of a headerlet embedded in the image as an
    HDRLET extension.  Only the linear WCS (CRPIX, CRVAL, CD/PC) is applied:
    the distortion of the headerlet must be the image's.

    Returns
    -------
    str
        The WCSNAME applied.

    Raises
    ------
    InputError
        Missing files, no SIPWCS for a science extension of the image, or a
        different SIP distortion.
    """
    path = Path(path)
    with read_fits(path) as hdul:
        hdus = science_hdus(hdul)
        wcs, wcsname, label = _headerlet_wcs(path, hdul, headerlet)
        targets = []
        for i in hdus:
            h = hdul[i].header
            tg = (str(h.get("EXTNAME", "SCI")).strip() or "SCI", int(h.get("EXTVER", 1)))
            if tg not in wcs:
                raise InputError(f"{path}: headerlet {label} has no WCS for extension {tg[0]},{tg[1]}")
            try:
                check_sip(h, wcs[tg], f"{path}[{tg[0]},{tg[1]}]")
            except ValueError as exc:
                raise InputError(f"{exc} (headerlet {label} has another distortion model)") from None
            targets.append((i, wcs[tg]))
        saved = archive_current_wcs(hdul, hdus)
        for i, w in targets:
            set_primary_wcs(hdul[i].header, w, wcsname, None)
        hdul[0].header.add_history(f"tweakgui: applied headerlet WCS {wcsname}; previous WCS kept as {saved}")
        write_hdulist(hdul, path.resolve())
    log.info("%s: applied %s (%s); previous WCS kept as %s", path, label, wcsname, saved)
    return wcsname


def _headerlet_wcs(path, hdul, headerlet) -> tuple[dict, str, str]:
    """``({(EXTNAME, EXTVER): WCS}, WCSNAME, label)`` of a headerlet file or of one embedded in ``hdul``."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    if Path(headerlet).is_file():
        hl = read_headerlet(headerlet)
        return hl.wcs, hl.wcsname, str(headerlet)
    found = [h for h in attached_headerlets(hdul) if h[0].header.get("HDRNAME") == str(headerlet)]
    if not found:
        names = [str(h[0].header.get("HDRNAME")) for h in attached_headerlets(hdul)]
        raise InputError(f"{path}: no headerlet file or embedded headerlet named {headerlet!r} "
                         f"(embedded: {', '.join(names) or 'none'})")
    emb = found[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = {(str(h.header.get("TG_ENAME", "SCI")).strip(), int(h.header.get("TG_EVER", h.ver))):
               WCS(h.header, emb) for h in emb[1:] if h.name == "SIPWCS"}
    return wcs, str(emb[0].header.get("WCSNAME", "")), f"embedded {headerlet}"


class _ArgError(Exception):
    pass


def _parse(argv: list[str]):
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, no usage dump, no SystemExit
            raise _ArgError(message)

    p = Parser(prog="tweakgui restore", add_help=False)
    p.add_argument("images", nargs="*")
    p.add_argument("--key")
    p.add_argument("--list", action="store_true")
    return p.parse_args(argv)


def _list_or_check(p: str, key: str | None, listing: bool, out) -> str | None:
    """Print the image's WCS history (``listing``) or check the WCS to restore exists; the problem, if any."""
    try:
        hist = wcs_history(p)
    except InputError as exc:
        return str(exc)
    if listing:
        for h in hist:
            tag = "primary" if h["primary"] else ("original" if h["original"] else "")
            words = [h["key"] if h["key"].strip() else "-", h["name"], tag,
                     str(h.get("date") or ""), str(h.get("reason") or "")]
            print(f"{p}: " + " ".join(w for w in words if w), file=out)
        return None
    keys = {h["key"] for h in hist if not h["primary"]}
    want = key.upper() if key else next((h["key"] for h in hist if h["original"]), None)
    if want is None or want not in keys:
        what = f"WCS with key {key!r}" if key else "WCS archived by tweakgui"
        return f"{p}: no {what} to restore"
    return None


def restore_main(paths: list[str], key: str | None = None, stream=None) -> int:
    """Command line body of ``tweakgui restore IMAGE... [--key K] [--list]``.

    Without ``--key`` the WCS each image had before tweakgui first changed it
    comes back; ``--list`` only prints the WCS history.  Every image is
    checked before any file is changed.  One line per image (or per error)
    goes to ``stream`` (default stdout; errors to stderr).

    Returns
    -------
    int
        0 when every image was restored, 2 when nothing was changed (bad
        file, key or option, or a write that failed: the images are
        replaced together or not at all).
    """
    out = stream or sys.stdout
    err = stream or sys.stderr
    try:
        args = _parse(list(paths))
    except _ArgError as exc:
        print(f"tweakgui restore: {exc}", file=err)
        return 2
    key = args.key or key
    if not args.images:
        print("tweakgui restore: no image given", file=err)
        return 2
    for p in args.images:
        problem = _list_or_check(p, key, args.list, out)
        if problem:
            print(f"tweakgui: error: {problem}", file=err)
            return 2
    if args.list:
        return 0
    done = []
    try:
        # all images or none: a failure on the last leaves the first ones as they were
        with transaction():
            for p in args.images:
                done.append((p, restore(p, key=key)))
    except InputError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tweakgui: error: {msg}; no image was changed", file=err)
        return 2
    for p, k in done:
        print(f"{p}: restored WCS {k}", file=out)
    return 0
