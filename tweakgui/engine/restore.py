"""WCS history of FITS images: archive the primary WCS, list the archive, restore.

A FITS header holds one primary WCS (``CRVAL1`` ...) and up to 26 alternate
WCSs (``CRVAL1A`` ... ``CRVAL1Z``).  Before tweakgui changes a primary WCS it
copies every keyword of it, card for card, to the next free letter (as stwcs'
``archive_wcs`` does), so nothing is ever overwritten and astropy's
``WCS(header, key=letter)`` gives the old WCS exactly.  SIP and lookup-table
distortions have no alternate form: they are shared by all WCSs of a header,
which is right because tweakgui changes only the linear part.

The letter of the first archive tweakgui made in a file is kept in the primary
header as ``TWKORIG``: :func:`restore` brings that WCS back by default.

JWST datamodels (a GWCS in an ASDF extension) keep their history in the
datamodel instead; :func:`wcs_history` and :func:`restore` hand them to
:mod:`tweakgui.engine.jwst_history`, where keys are entry numbers (1 is the
original).
"""

from __future__ import annotations

import logging
import re
import string
import sys
from pathlib import Path

from astropy.io import fits

from tweakgui.engine.jwst import is_jwst_file
from tweakgui.engine.jwst_history import jwst_wcs_history, restore_jwst
from tweakgui.engine.model import InputError

__all__ = [
    "ORIGINAL_NAME",
    "wcs_cards",
    "wcs_keys_in_use",
    "archive_primary_wcs",
    "archive_current_wcs",
    "replace_primary_wcs",
    "science_hdus",
    "wcs_history",
    "restore",
    "restore_main",
    "apply_headerlet",
]

log = logging.getLogger(__name__)

ORIGINAL_NAME = "ORIGINAL"
# comment of an archived WCSNAME that the archived WCS did not have
NAME_GIVEN = "name given by tweakgui; the WCS had none"
LETTERS = string.ascii_uppercase

_SCALAR = (
    "WCSNAME|WCSAXES|RADESYS|EQUINOX|LONPOLE|LATPOLE|"
    # non-standard fit keywords stwcs carries with each WCS
    "WCSTYPE|RMS_RA|RMS_DEC|NMATCH|FITNAME|HDRNAME"
)
_WCS_KEY_RE = re.compile(
    rf"^(?:(?:{_SCALAR})|(?:CRPIX|CRVAL|CTYPE|CUNIT|CDELT|CRDER|CSYER|CNAME)[1-9]"
    r"|(?:CD|PC)[1-9]_[1-9]|(?:PV|PS)[1-9]_\d{1,2})([A-Z]?)$"
)
# the keywords whose presence says "a WCS with this key exists" (as stwcs' wcskeys)
_PRESENCE_RE = re.compile(r"^(?:WCSNAME|CTYPE1|CRPIX1|CRVAL1)([A-Z]?)$")


def _split(keyword: str) -> tuple[str, str] | None:
    """Return (base keyword, key letter or '') for a WCS keyword, else None."""
    m = _WCS_KEY_RE.match(keyword)
    if not m:
        return None
    key = m.group(1)
    return keyword[: len(keyword) - len(key)], key


def wcs_cards(header: fits.Header, key: str = "") -> list[tuple[str, object, str]]:
    """The cards of one WCS of ``header`` as (base keyword, value, comment).

    ``key`` is ``''`` (or ``' '``) for the primary WCS or a letter.
    """
    key = key.strip()
    out = []
    for card in header.cards:
        parts = _split(card.keyword)
        if parts and parts[1] == key:
            out.append((parts[0], card.value, card.comment))
    return out


def wcs_keys_in_use(header: fits.Header) -> set[str]:
    """The alternate WCS letters present in ``header``."""
    keys = set()
    for kw in header.keys():
        m = _PRESENCE_RE.match(kw)
        if m and m.group(1):
            keys.add(m.group(1))
    return keys


def _same_wcs(header: fits.Header, key: str) -> bool:
    a = {b: v for b, v, _ in wcs_cards(header, "")}
    b = {b: v for b, v, _ in _as_archived(wcs_cards(header, key))}
    return a == b


def _as_archived(cards):
    """The cards of an archived WCS as they were: without a WCSNAME tweakgui had to give it."""
    return [(b, v, c) for b, v, c in cards if not (b == "WCSNAME" and c == NAME_GIVEN)]


def science_hdus(hdul: fits.HDUList) -> list[int]:
    """Indices of the science HDUs (EXTNAME SCI, else every HDU with a celestial WCS)."""
    sci = [i for i, h in enumerate(hdul) if h.header.get("EXTNAME", "").strip().upper() == "SCI"]
    if sci:
        return sci
    return [i for i, h in enumerate(hdul) if "CTYPE1" in h.header and "CRVAL1" in h.header]


def archive_primary_wcs(hdul: fits.HDUList, hdus: list[int], name: str = "") -> str:
    """Copy the primary WCS of ``hdus`` to a free alternate letter; return the letter.

    The letter is the first one free in every given HDU.  When the primary WCS
    is already archived identically under some letter in all HDUs (e.g. after
    a restore) that letter is returned and nothing is written.  The archived
    ``WCSNAME`` is the primary's, or ``name``, or ``'ORIGINAL'`` when absent.

    Raises
    ------
    InputError
        When all 26 letters are in use.
    """
    headers = [hdul[i].header for i in hdus]
    common = set.intersection(*(wcs_keys_in_use(h) for h in headers)) if headers else set()
    for key in sorted(common):
        if all(_same_wcs(h, key) for h in headers):
            return key
    used = set().union(*(wcs_keys_in_use(h) for h in headers))
    free = [k for k in LETTERS if k not in used]
    if not free:
        raise InputError(f"{hdul.filename() or 'image'}: all 26 alternate WCS letters are in use; "
                         "cannot archive the current WCS")
    key = free[0]
    for h in headers:
        cards = wcs_cards(h, "")
        wname = str(h.get("WCSNAME", "")).strip() or name or ORIGINAL_NAME
        if "WCSNAME" not in h:
            # an alternate WCS needs a name to be listed; restore drops it again
            cards.insert(0, ("WCSNAME", wname, NAME_GIVEN))
        for base, value, comment in cards:
            value = wname if base == "WCSNAME" else value
            h.append((f"{base}{key}", value, comment), end=True)
    if "TWKORIG" not in hdul[0].header:
        hdul[0].header["TWKORIG"] = (key, "alternate WCS key of the WCS before tweakgui")
    return key


def archive_current_wcs(hdul: fits.HDUList, hdus: list[int], root: str = "") -> str:
    """Archive the primary WCS as an alternate WCS and, when new, as an HDRLET too.

    See :func:`archive_primary_wcs`; the embedded headerlet keeps the full
    WCS (with its distortion) even if another tool rewrites the alternates.
    """
    from tweakgui.engine.headerlet import archive_as_headerlet  # imports outputs, which imports us

    known = wcs_keys_in_use(hdul[hdus[0]].header)
    key = archive_primary_wcs(hdul, hdus)
    if key not in known:
        archive_as_headerlet(hdul, hdus, key, root)
    return key


def replace_primary_wcs(header: fits.Header, cards: list[tuple[str, object, str]]) -> None:
    """Make ``cards`` (base keyword, value, comment) the primary WCS of ``header``.

    Primary WCS keywords absent from ``cards`` are removed; existing ones keep
    their place in the header.
    """
    wanted = {b for b, _, _ in cards}
    for kw in [kw for kw in header.keys() if (p := _split(kw)) and p[1] == "" and kw not in wanted]:
        del header[kw]
    last = None
    for base, value, comment in cards:
        if base in header:
            header[base] = (value, comment)
        elif last is not None:
            header.insert(last, (base, value, comment), after=True)
        elif base == "WCSAXES" and "CTYPE1" in header:
            header.insert("CTYPE1", (base, value, comment))
        else:
            header.append((base, value, comment), end=True)
        last = base


def wcs_history(path: str | Path) -> list[dict]:
    """List the WCSs of a FITS image: the primary one and every alternate one.

    Returns
    -------
    list of dict
        One dict per WCS of the first science HDU with ``key`` (``' '`` for
        the primary), ``name`` (WCSNAME or ``''``), ``original`` (True for the
        WCS :func:`restore` brings back by default) and ``primary``.  For a
        JWST datamodel see :func:`~tweakgui.engine.jwst_history.jwst_wcs_history`.
    """
    path = Path(path)
    if is_jwst_file(path):
        return jwst_wcs_history(path)
    with _open(path) as hdul:
        hdus = science_hdus(hdul)
        if not hdus:
            raise InputError(f"{path}: no image extension with a WCS")
        h = hdul[hdus[0]].header
        orig = str(hdul[0].header.get("TWKORIG", "")).strip()
        out = [{"key": " ", "name": str(h.get("WCSNAME", "")), "primary": True, "original": False}]
        for k in sorted(wcs_keys_in_use(h)):
            out.append({"key": k, "name": str(h.get(f"WCSNAME{k}", "")), "primary": False,
                        "original": k == orig})
    return out


def _open(path: Path) -> fits.HDUList:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        hdul = fits.open(path, memmap=False, do_not_scale_image_data=True)
        hdul.readall()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from exc
    return hdul


def restore(path: str | Path, key: str | None = None, name: str | None = None) -> str:
    """Bring back an archived WCS as the primary WCS of every science HDU.

    The current primary WCS is archived first (unless already archived
    identically), so nothing is lost.  The file is replaced atomically.

    Parameters
    ----------
    path : str or Path
        The FITS image (e.g. one updated with ``--in_place``); a JWST
        datamodel goes to :func:`~tweakgui.engine.jwst_history.restore_jwst`.
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
    from tweakgui.engine.outputs import write_hdulist  # avoid an import cycle

    path = Path(path)
    if is_jwst_file(path):
        return restore_jwst(path, key=key, name=name)
    with _open(path) as hdul:
        hdus = science_hdus(hdul)
        if not hdus:
            raise InputError(f"{path}: no image extension with a WCS")
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
        target = [_as_archived(wcs_cards(hdul[i].header, key)) for i in hdus]
        saved = archive_current_wcs(hdul, hdus)
        for i, cards in zip(hdus, target):
            replace_primary_wcs(hdul[i].header, cards)
        wname = first.get("WCSNAME", "")
        hdul[0].header.add_history(
            f"tweakgui: restored WCS {key} ({wname}); previous WCS archived as {saved}")
        write_hdulist(hdul, path.resolve())
    log.info("%s: restored WCS %s (%s); previous one kept as %s", path, key, wname, saved)
    return key


def apply_headerlet(path: str | Path, headerlet: str | Path) -> str:
    """Make the WCS of a headerlet the primary WCS of an image, archiving the current one.

    This applies a saved solution again (e.g. one written by
    :func:`~tweakgui.engine.headerlet.write_headerlet`).  ``headerlet`` is a
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
    import warnings

    from astropy.wcs import FITSFixedWarning, WCS

    from tweakgui.engine.headerlet import attached_headerlets, read_headerlet
    from tweakgui.engine.outputs import check_sip, set_primary_wcs, write_hdulist

    path = Path(path)
    with _open(path) as hdul:
        hdus = science_hdus(hdul)
        if Path(headerlet).is_file():
            hl = read_headerlet(headerlet)
            wcs, wcsname, label = hl.wcs, hl.wcsname, str(headerlet)
        else:
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
            wcsname, label = str(emb[0].header.get("WCSNAME", "")), f"embedded {headerlet}"
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
        try:
            hist = wcs_history(p)
        except InputError as exc:
            print(f"tweakgui: error: {exc}", file=err)
            return 2
        if args.list:
            for h in hist:
                tag = "primary" if h["primary"] else ("original" if h["original"] else "")
                words = [h["key"] if h["key"].strip() else "-", h["name"], tag,
                         str(h.get("date") or ""), str(h.get("reason") or "")]
                print(f"{p}: " + " ".join(w for w in words if w), file=out)
            continue
        keys = {h["key"] for h in hist if not h["primary"]}
        want = key.upper() if key else next((h["key"] for h in hist if h["original"]), None)
        if want is None or want not in keys:
            what = f"WCS with key {key!r}" if key else "WCS archived by tweakgui"
            print(f"tweakgui: error: {p}: no {what} to restore", file=err)
            return 2
    if args.list:
        return 0
    from tweakgui.engine.atomic import transaction

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
