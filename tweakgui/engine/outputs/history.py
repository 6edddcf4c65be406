"""WCS history of FITS images: archive the primary WCS as an alternate one, list the archive.

A FITS header holds one primary WCS (``CRVAL1`` ...) and up to 26 alternate
WCSs (``CRVAL1A`` ... ``CRVAL1Z``).  Before tweakgui changes a primary WCS it
copies every keyword of it, card for card, to the next free letter (as stwcs'
``archive_wcs`` does), so nothing is ever overwritten and astropy's
``WCS(header, key=letter)`` gives the old WCS exactly.  SIP and lookup-table
distortions have no alternate form: they are shared by all WCSs of a header,
which is right because tweakgui changes only the linear part.

The letter of the first archive tweakgui made in a file is kept in the primary
header as ``TWKORIG``: :func:`tweakgui.engine.outputs.restore.restore` brings
that WCS back by default.  JWST datamodels keep their history in the datamodel
instead (:mod:`tweakgui.engine.outputs.jwst_history`).
"""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path

from astropy.io import fits

from tweakgui.engine.io.jwst import is_jwst_file
from tweakgui.engine.model import InputError
from tweakgui.engine.outputs.headerlet import archive_as_headerlet
from tweakgui.engine.outputs.jwst_history import jwst_wcs_history

__all__ = [
    "ORIGINAL_NAME",
    "wcs_cards",
    "wcs_keys_in_use",
    "archive_primary_wcs",
    "archive_current_wcs",
    "replace_primary_wcs",
    "as_archived",
    "same_wcs",
    "science_hdus",
    "read_fits",
    "wcs_history",
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


def same_wcs(header: fits.Header, key: str) -> bool:
    a = {b: v for b, v, _ in wcs_cards(header, "")}
    b = {b: v for b, v, _ in as_archived(wcs_cards(header, key))}
    return a == b


def as_archived(cards):
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
        if all(same_wcs(h, key) for h in headers):
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
        JWST datamodel see :func:`~tweakgui.engine.outputs.jwst_history.jwst_wcs_history`.
    """
    path = Path(path)
    if is_jwst_file(path):
        return jwst_wcs_history(path)
    with read_fits(path) as hdul:
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


def read_fits(path: Path) -> fits.HDUList:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        hdul = fits.open(path, memmap=False, do_not_scale_image_data=True)
        hdul.readall()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from exc
    return hdul

