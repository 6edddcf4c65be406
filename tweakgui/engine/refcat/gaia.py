"""Gaia reference catalogs: the STScI catalog web service, and local Gaia files.

The service is the one jwst/stcal query (``stcal.tweakreg.astrometric_utils``)::

    <base>/vo/CatalogSearch.aspx?RA=<deg>&DEC=<deg>&EPOCH=<year>&SR=<deg>&FORMAT=CSV&CAT=<name>

with ``<base>`` from the environment variable ``ASTROMETRIC_CATALOG_URL``
(default ``https://gsss.stsci.edu/webservices``).  The answer is CSV with
``#`` comment lines; ``No data records`` means an empty field.  Given an
epoch the service returns positions moved by proper motion where the source
has one and unmoved rows for sources without.  stcal keeps those unmoved rows
(jwst issue #8168); tweakgui drops them unless ``abs_pm_policy`` is
``keep_no_pm`` (their positions are not valid at the observation epoch).
Without an epoch every source is kept at its catalog position.

The query's epoch is the decimal year of the visit's first dated exposure, as
jwst sends it; the answer is then moved on to each exposure's own epoch
(:mod:`.motion`).  Local Gaia files (ECSV, CSV, VOTable with ``ra``, ``dec``,
``pmra``, ``pmdec``, ``ref_epoch``; any letter case) are moved by the same
code (:func:`propagate` for a raw Gaia table).
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.footprint import chip_footprint, unit_vectors
from tweakgui.engine.model import InputError
from tweakgui.engine.refcat.motion import move

__all__ = [
    "GAIA_CATALOGS",
    "ASTROMETRIC_CAT_ENVVAR",
    "DEFAULT_URL",
    "TIMEOUT",
    "CatalogServiceError",
    "service_url",
    "query_url",
    "get_gaia_catalog",
    "parse_service_csv",
    "footprint_search_params",
    "visit_epoch",
    "reference_catalog_for_visit",
    "read_gaia_file",
    "propagate",
    "CATALOG_EPOCHS",
]

log = logging.getLogger(__name__)

GAIA_CATALOGS = ("GAIADR1", "GAIADR2", "GAIADR3", "GAIAREFCAT")
# reference epochs (Julian years) of the releases: where the service's position errors hold
CATALOG_EPOCHS = {"GAIADR1": 2015.0, "GAIADR2": 2015.5, "GAIADR3": 2016.0, "GAIAREFCAT": 2016.0}
ASTROMETRIC_CAT_ENVVAR = "ASTROMETRIC_CATALOG_URL"
DEFAULT_URL = "https://gsss.stsci.edu/webservices"
TIMEOUT = 30.0  # s, for the whole query (connection, answer, body)
MAX_ANSWER_BYTES = 256 * 2**20


class CatalogServiceError(InputError):
    """The catalog service could not be reached or answered with an error (one line)."""


def service_url(base_url: str | None = None) -> str:
    """The service base URL: the argument, else ``$ASTROMETRIC_CATALOG_URL``, else STScI's."""
    return (base_url or os.environ.get(ASTROMETRIC_CAT_ENVVAR) or DEFAULT_URL).rstrip("/")


def query_url(name, ra, dec, radius_deg, epoch=None, base_url=None) -> str:
    """The cone-search URL, parameters in stcal's order."""
    spec = f"RA={float(ra)!r}&DEC={float(dec)!r}"
    if epoch is not None:
        spec += f"&EPOCH={float(epoch)!r}"
    spec += f"&SR={float(radius_deg)!r}&FORMAT=CSV&CAT={name}"
    return f"{service_url(base_url)}/vo/CatalogSearch.aspx?{spec}"


def _col(table: Table, *names: str):
    lower = {c.lower(): c for c in table.colnames}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _floats(column) -> np.ndarray:
    """A column as float with masked or empty entries as NaN."""
    if hasattr(column, "mask"):
        # an all-empty CSV column reads as masked integers: NaN needs floats first
        column = (np.ma.asarray(column).astype(float).filled(np.nan) if column.dtype.kind in "fiu"
                  else column.filled(""))
    arr = np.asarray(column)
    if arr.dtype.kind in "fiu":
        return arr.astype(float)
    out = np.full(len(arr), np.nan)
    for i, v in enumerate(arr):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def parse_service_csv(text: str, epoch=None, source: str = "catalog service", keep_no_pm: bool = False) -> Table:
    """Parse the service's CSV answer into ``RA, DEC[, mag, objID, epoch, pmra, pmdec]`` and errors.

    The errors are ``ra_error``, ``dec_error`` (mas) and ``pmra_error``,
    ``pmdec_error`` (mas/yr) when the service gives them.  Given ``epoch``,
    sources without proper motion are dropped unless ``keep_no_pm``.
    """
    stripped = text.lstrip()
    if stripped.startswith("Error"):
        raise CatalogServiceError(f"{source}: the catalog service answered: "
                                  f"{stripped.splitlines()[0].strip()}")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or lines[0].startswith("No data records"):
        return Table(names=("RA", "DEC"), dtype=(float, float))
    try:
        raw = Table.read(lines, format="ascii.csv")
    except Exception as exc:  # astropy's readers raise many types
        raise CatalogServiceError(f"{source}: cannot parse the catalog service's CSV ({exc})") from None
    rc, dc = _col(raw, "ra"), _col(raw, "dec")
    if rc is None or dc is None:
        raise CatalogServiceError(f"{source}: the catalog service's CSV has no ra/dec columns")
    out = Table()
    out["RA"] = _floats(raw[rc])
    out["DEC"] = _floats(raw[dc])
    for name, aliases in (("mag", ("mag", "phot_g_mean_mag")), ("objID", ("objID", "source_id")),
                          ("epoch", ("epoch", "ref_epoch")), ("pmra", ("pmra",)),
                          ("pmdec", ("pmdec",)), ("ra_error", ("ra_error", "raErr")),
                          ("dec_error", ("dec_error", "decErr")), ("pmra_error", ("pmra_error", "pmraErr")),
                          ("pmdec_error", ("pmdec_error", "pmdecErr"))):
        c = _col(raw, *aliases)
        if c is not None:
            out[name] = raw[c] if name == "objID" else _floats(raw[c])
    keep = np.isfinite(out["RA"]) & np.isfinite(out["DEC"])
    if epoch is not None and not keep_no_pm and "pmra" in out.colnames and "pmdec" in out.colnames:
        has_pm = np.isfinite(out["pmra"]) & np.isfinite(out["pmdec"])
        if np.any(~has_pm & keep):
            log.info("%d sources without proper motion dropped (positions not at epoch %.3f)",
                     int(np.count_nonzero(~has_pm & keep)), epoch)
        keep &= has_pm
    return out[keep]


def get_gaia_catalog(name, ra, dec, radius_deg, epoch, timeout=None, base_url=None,
                     keep_no_pm: bool = False) -> Table:
    """Query the catalog service for a cone.

    Parameters
    ----------
    name : str
        ``GAIADR1``, ``GAIADR2``, ``GAIADR3`` or ``GAIAREFCAT``.
    ra, dec, radius_deg : float
        Cone centre and radius, degrees.
    epoch : float or None
        Decimal year of the observation: positions are moved to it and
        sources without proper motion dropped (kept unmoved with
        ``keep_no_pm``); None: catalog positions.
    timeout : float
        Seconds the whole query may take (an overall deadline, not per read;
        default :data:`TIMEOUT`).
    base_url : str, optional
        Service base URL (default: see :func:`service_url`).

    Returns
    -------
    astropy.table.Table
        ``RA``, ``DEC`` (deg) and what the service gives of ``mag``,
        ``objID``, ``epoch``, ``pmra``, ``pmdec``; ``meta['name']`` is the
        catalog name and ``meta['url']`` the query.

    Raises
    ------
    InputError
        Unknown catalog name.
    CatalogServiceError
        The service cannot be reached, times out or answers with an error.
    """
    cat = str(name).strip().upper()
    if cat not in GAIA_CATALOGS:
        raise InputError(f"abs_refcat: unknown catalog {name!r} (use one of {', '.join(GAIA_CATALOGS)})")
    url = query_url(cat, float(ra), float(dec), float(radius_deg),
                    None if epoch is None else float(epoch), base_url)
    log.info("querying %s", url)
    where = urllib.parse.urlsplit(url)
    shown = f"{where.scheme}://{where.netloc}{where.path}"
    req = urllib.request.Request(url, headers={"Content-Type": "text/csv"})
    try:
        body = _fetch(req, float(TIMEOUT if timeout is None else timeout), shown, cat).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise CatalogServiceError(
            f"abs_refcat {cat}: the catalog service {shown} answered HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CatalogServiceError(
            f"abs_refcat {cat}: the catalog service could not be reached ({shown}: {reason})"
        ) from None
    table = parse_service_csv(body, epoch, source=f"abs_refcat {cat}", keep_no_pm=keep_no_pm)
    table.meta.update({"name": cat, "catalog": cat, "url": url, "epoch": epoch})
    log.info("%s: %d sources within %.4f deg of (%.6f, %.6f)", cat, len(table), radius_deg, ra, dec)
    return table


def _fetch(req, deadline_s: float, shown: str, cat: str) -> bytes:
    """The body of ``req``, or an error once ``deadline_s`` has passed since the start.

    ``urlopen``'s timeout applies to each socket operation: a server that
    trickles a byte a second never trips it.  The request runs in a daemon
    thread; this one waits at most ``deadline_s`` in total (a signal still
    interrupts the wait), then closes the connection, which ends the thread.
    """
    import threading
    import time

    box: dict = {}
    end = time.monotonic() + deadline_s

    def work():
        try:
            with urllib.request.urlopen(req, timeout=max(0.1, deadline_s)) as resp:
                box["resp"] = resp
                chunks, size = [], 0
                while True:
                    if time.monotonic() > end:
                        raise TimeoutError("deadline passed")
                    chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        box["too_big"] = True
                        return
                    chunks.append(chunk)
                box["body"] = b"".join(chunks)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    t = threading.Thread(target=work, name="tweakgui-catalog-query", daemon=True)
    t.start()
    t.join(max(0.0, end - time.monotonic()))
    if t.is_alive():
        resp = box.get("resp")
        if resp is not None:  # unblocks the thread's read
            try:
                resp.close()
            except Exception:  # closing from another thread may complain; the thread ends anyway
                pass
        raise CatalogServiceError(f"abs_refcat {cat}: the catalog service could not be reached "
                                  f"({shown}: no complete answer within {deadline_s:g} s)")
    if box.get("too_big"):
        raise CatalogServiceError(f"abs_refcat {cat}: the catalog service {shown} answered more than "
                                  f"{MAX_ANSWER_BYTES // 2**20} MiB; query a smaller field")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, TimeoutError) and str(exc) == "deadline passed":
            raise CatalogServiceError(f"abs_refcat {cat}: the catalog service could not be reached "
                                      f"({shown}: no complete answer within {deadline_s:g} s)")
        raise exc
    return box["body"]


def _icrs(wcs, lonlat: np.ndarray) -> np.ndarray:
    """Footprint corners in ICRS when the WCS is in another frame (galactic, ecliptic, FK4)."""
    if hasattr(wcs, "pipeline"):
        return lonlat
    try:
        from astropy.coordinates import SkyCoord
        from astropy.wcs.utils import wcs_to_celestial_frame

        frame = wcs_to_celestial_frame(wcs)
    except Exception:  # an unknown frame: taken as equatorial
        return lonlat
    if frame.name in ("icrs", "fk5"):
        return lonlat
    c = SkyCoord(lonlat[:, 0], lonlat[:, 1], unit="deg", frame=frame).icrs
    return np.column_stack([c.ra.deg, c.dec.deg])


def footprint_search_params(exposures) -> tuple[float, float, float]:
    """Centre (ra, dec) and radius (deg, ICRS) of a cone covering every chip's footprint."""
    corners = np.vstack([_icrs(c.wcs, chip_footprint(c.wcs, c.shape)) for e in exposures for c in e.chips])
    v = unit_vectors(corners[:, 0], corners[:, 1])
    m = v.mean(axis=0)
    m /= np.linalg.norm(m)
    ra = float(np.degrees(np.arctan2(m[1], m[0])) % 360.0)
    dec = float(np.degrees(np.arcsin(np.clip(m[2], -1, 1))))
    radius = float(np.degrees(np.max(np.arccos(np.clip(v @ m, -1, 1)))))
    return ra, dec, radius


def visit_epoch(exposures) -> float | None:
    """Decimal-year epoch of the first exposure that has one (as jwst: the first image's date)."""
    from astropy.time import Time

    for e in exposures:
        ep = e.meta.get("epoch")
        if ep is not None:
            return float(ep)
        date = e.meta.get("date_obs") or e.meta.get("DATE-OBS")
        if date:
            try:
                return float(Time(date).decimalyear)
            except ValueError:
                continue
    return None


def reference_catalog_for_visit(visit, name, timeout=None, base_url=None, epoch="visit",
                                keep_no_pm: bool = False) -> Table:
    """Query ``name`` over the visit's combined footprint at ``epoch``.

    ``epoch``: a decimal year, None (catalog positions), or ``"visit"``: the
    visit's first observation date, as jwst queries.
    """
    ra, dec, radius = footprint_search_params(visit.exposures)
    if epoch == "visit":
        epoch = visit_epoch(visit.exposures)
        if epoch is None:
            log.warning("no observation date: %s positions are not moved by proper motion", name)
    return get_gaia_catalog(name, ra, dec, radius, epoch, timeout=timeout, base_url=base_url,
                            keep_no_pm=keep_no_pm)


def read_gaia_file(path) -> Table:
    """Read a local Gaia table (ECSV, CSV or VOTable); columns are looked up in any case."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    fmt = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv", ".vot": "votable", ".xml": "votable",
           ".votable": "votable"}.get(suffix)
    try:
        t = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # astropy's readers raise many types
        raise InputError(f"{path}: cannot read the catalog ({exc})") from None
    if _col(t, "ra") is None or _col(t, "dec") is None:
        raise InputError(f"{path}: no ra/dec columns")
    return t


def propagate(table: Table, epoch: float, keep_no_pm: bool = False) -> Table:
    """Move a raw Gaia table from ``ref_epoch`` to ``epoch`` by its proper motion.

    Each source moves along the sphere by ``pmra`` (mas/yr, already times
    cos dec, as Gaia gives it) and ``pmdec`` times ``epoch - ref_epoch``
    (:func:`tweakgui.engine.refcat.motion.move`).  Sources without proper
    motion are dropped unless ``keep_no_pm``, which keeps them at their
    catalog positions.

    Returns
    -------
    Table
        ``RA``, ``DEC`` at ``epoch``, plus ``mag`` and ``objID`` when present.
    """
    rc, dc = _col(table, "ra"), _col(table, "dec")
    ra, dec = _floats(table[rc]), _floats(table[dc])
    pc, qc, ec = _col(table, "pmra"), _col(table, "pmdec"), _col(table, "ref_epoch", "epoch")
    n = len(table)
    pmra = _floats(table[pc]) if pc else np.full(n, np.nan)
    pmdec = _floats(table[qc]) if qc else np.full(n, np.nan)
    ref_epoch = _floats(table[ec]) if ec else np.full(n, 2016.0)
    if ec is None:
        log.warning("no ref_epoch column: assuming 2016.0 (Gaia DR3)")
    has_pm = np.isfinite(pmra) & np.isfinite(pmdec) & np.isfinite(ref_epoch)
    out = Table()
    out["RA"], out["DEC"] = move(ra, dec, np.where(has_pm, pmra, 0.0), np.where(has_pm, pmdec, 0.0),
                                 np.where(has_pm, epoch - ref_epoch, 0.0))
    mc = _col(table, "phot_g_mean_mag", "mag")
    if mc:
        out["mag"] = _floats(table[mc])
    ic = _col(table, "source_id", "objID")
    if ic:
        out["objID"] = table[ic]
    out["epoch"] = np.full(n, float(epoch))
    keep = np.isfinite(out["RA"]) & np.isfinite(out["DEC"])
    if not keep_no_pm:
        if np.any(~has_pm & keep):
            log.info("%d sources without proper motion dropped", int(np.count_nonzero(~has_pm & keep)))
        keep &= has_pm
    out = out[keep]
    out.meta["epoch"] = float(epoch)
    return out
