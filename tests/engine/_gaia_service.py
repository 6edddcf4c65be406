"""A loopback stand-in for the STScI catalog service (``/vo/CatalogSearch.aspx``).

It answers the way the service does for stcal: CSV with a ``#`` comment line,
``No data records`` for an empty cone, ``Error ...`` for an unknown catalog.
Rows come from a table with Gaia column names (``source_id``, ``ra``, ``dec``,
``pmra``, ``pmdec``, ``ref_epoch``, ``phot_g_mean_mag`` ...).  Given EPOCH,
sources with proper motion are moved with astropy's ``apply_space_motion``
(independent of tweakgui's propagation) and sources without are returned
unmoved with empty pm fields, as the service does.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

GAIA_CATALOGS = ("GAIADR1", "GAIADR2", "GAIADR3", "GAIAREFCAT")
COLUMNS = ("objID", "GAIAsourceID", "ra", "dec", "epoch", "ra_error", "dec_error", "pmra",
           "pmdec", "pmra_error", "pmdec_error", "parallax", "mag")


def space_motion(ra, dec, pmra, pmdec, ref_epoch, epoch):
    """Positions at ``epoch`` by astropy (pure proper motion: far away, no radial velocity)."""
    c = SkyCoord(ra=np.atleast_1d(ra) * u.deg, dec=np.atleast_1d(dec) * u.deg,
                 pm_ra_cosdec=np.atleast_1d(pmra) * u.mas / u.yr,
                 pm_dec=np.atleast_1d(pmdec) * u.mas / u.yr, distance=1e6 * u.kpc,
                 radial_velocity=0 * u.km / u.s, obstime=Time(ref_epoch, format="jyear"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = c.apply_space_motion(new_obstime=Time(epoch, format="jyear"))
    return m.ra.deg, m.dec.deg


def _num(col, n):
    if col is None:
        return np.full(n, np.nan)
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan), dtype=float)


def service_csv(rows: Table, epoch: float | None) -> str:
    """Rows of a Gaia table in the service's CSV layout, moved to ``epoch`` when given."""
    n = len(rows)
    get = {c.lower(): rows[c] for c in rows.colnames}
    ra, dec = _num(get["ra"], n), _num(get["dec"], n)
    pmra, pmdec = _num(get.get("pmra"), n), _num(get.get("pmdec"), n)
    ep = _num(get.get("ref_epoch"), n)
    has_pm = np.isfinite(pmra) & np.isfinite(pmdec)
    if epoch is not None and has_pm.any():
        ra[has_pm], dec[has_pm] = space_motion(ra[has_pm], dec[has_pm], pmra[has_pm], pmdec[has_pm],
                                               ep[has_pm], epoch)
        ep[has_pm] = epoch
    cols = {
        "objID": [str(v) for v in get["source_id"]], "ra": ra, "dec": dec, "epoch": ep,
        "ra_error": _num(get.get("ra_error"), n), "dec_error": _num(get.get("dec_error"), n),
        "pmra": pmra, "pmdec": pmdec, "pmra_error": _num(get.get("pmra_error"), n),
        "pmdec_error": _num(get.get("pmdec_error"), n), "parallax": _num(get.get("parallax"), n),
        "mag": _num(get.get("phot_g_mean_mag"), n),
    }
    cols["GAIAsourceID"] = cols["objID"]

    def f(v):
        return v if isinstance(v, str) else ("" if not np.isfinite(v) else repr(float(v)))

    lines = [f"#Objects found : {n} , GAIADR3 ConeSearch,OK", ",".join(COLUMNS)]
    lines += [",".join(f(cols[c][i]) for c in COLUMNS) for i in range(n)]
    return "\r\n".join(lines) + "\r\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        q = {k.upper(): v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if srv.delay:
            time.sleep(srv.delay)
        if url.path != "/vo/CatalogSearch.aspx":
            self.send_error(404)
            return
        if q.get("CAT") not in GAIA_CATALOGS:
            body = "Error: Cannot find table 0\r\n"
        else:
            ra, dec, sr = float(q["RA"]), float(q["DEC"]), float(q["SR"])
            epoch = float(q["EPOCH"]) if "EPOCH" in q else None
            t = srv.table
            sep = SkyCoord(_num(t["ra"], len(t)), _num(t["dec"], len(t)), unit="deg").separation(
                SkyCoord(ra, dec, unit="deg"))
            rows = t[sep.deg <= sr]
            body = service_csv(rows, epoch) if len(rows) else "No data records found.\r\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout test) is not an error of the server


class CatalogServer:
    """A threaded loopback catalog service answering from ``table``; a context manager."""

    def __init__(self, table: Table, delay: float = 0.0):
        self.httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.table = table
        self.httpd.delay = delay
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port_url() -> str:
    """A loopback URL where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
