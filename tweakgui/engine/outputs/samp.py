"""Send images and source tables to DS9, TOPCAT or Aladin through SAMP.

SAMP (Simple Application Messaging Protocol) is how desktop astronomy tools
exchange data: a hub (started by TOPCAT, Aladin or DS9) relays messages such as
``image.load.fits`` and ``table.load.votable`` whose parameters are URLs of
files.  :class:`SampSender` registers with the hub, writes tables as VOTables in
a private temporary directory and notifies one client or all subscribed clients.

Qt-free; the GUI calls it from a menu.  Every failure is a :class:`SampError`
with a one-line message.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table
from pyvo.samp import SAMPHubError, SAMPIntegratedClient, SAMPProxyError
from pyvo.samp.lockfile_helpers import read_lockfile

from tweakgui.engine.model import ImageResult

__all__ = ["SampError", "SampClient", "SampSender", "sources_table", "IMAGE_MTYPE", "TABLE_MTYPE"]

log = logging.getLogger(__name__)

IMAGE_MTYPE = "image.load.fits"
TABLE_MTYPE = "table.load.votable"
_HUB_ID = "hub"


class SampError(RuntimeError):
    """A SAMP operation failed; the message is one line and says why."""


@dataclass(frozen=True)
class SampClient:
    """A client registered with the hub (e.g. DS9) and what it can load."""

    id: str
    name: str
    accepts_images: bool
    accepts_tables: bool


def _hub_params(hub) -> dict | None:
    """Hub parameters from a lockfile path, a ``std-lockurl:`` string or a dict."""
    if hub is None or isinstance(hub, dict):
        return hub
    text = str(hub)
    if text.startswith("std-lockurl:"):
        text = text[len("std-lockurl:"):]
    if text.startswith("file://"):
        text = text[len("file://"):]
    path = Path(text).expanduser()
    if not path.is_file():
        raise SampError(f"SAMP hub lockfile {path} does not exist")
    params = read_lockfile(str(path))
    if "samp.hub.xmlrpc.url" not in params or "samp.secret" not in params:
        raise SampError(f"SAMP hub lockfile {path} has no hub URL or secret")
    return params


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "faultString", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())


def sources_table(image_result: ImageResult, which: str = "detected") -> Table:
    """The sources of one image as a table with RA/DEC (deg) and x/y (0-based pixels).

    Parameters
    ----------
    image_result : ImageResult
        One image of a run.
    which : {'detected', 'matched'}
        ``'detected'``: every source of every chip's catalog, with sky positions
        through the corrected WCS when there is one.  ``'matched'``: the matched
        pairs of the image's last successful fit, with the reference position,
        residuals (arcsec) and the ``used`` flag.

    Returns
    -------
    astropy.table.Table
        Columns ``RA``, ``DEC``, ``x``, ``y``, ``chip`` and, for matches,
        ``ref_RA``, ``ref_DEC``, ``dx``, ``dy``, ``used``.
    """
    exposure = image_result.exposure
    if which == "detected":
        parts = []
        for i, (chip, cat) in enumerate(zip(exposure.chips, image_result.catalogs)):
            wcs = image_result.new_wcs[i] if image_result.new_wcs else chip.wcs
            x = np.asarray(cat["x"], dtype=float)
            y = np.asarray(cat["y"], dtype=float)
            ra, dec = wcs.pixel_to_world_values(x, y) if len(x) else (x.copy(), y.copy())
            t = Table({"RA": np.asarray(ra, float) % 360.0, "DEC": np.asarray(dec, float),
                       "x": x, "y": y, "chip": [chip.name] * len(x)})
            if "flux" in cat.colnames:
                t["flux"] = np.asarray(cat["flux"], dtype=float)
            parts.append(t)
        if not parts:
            raise SampError(f"{exposure.name} has no source catalog (run the detection first)")
        from astropy.table import vstack

        out = vstack(parts, metadata_conflicts="silent")
    elif which == "matched":
        fit = image_result.fit
        if fit is None or fit.matches is None:
            raise SampError(f"{exposure.name} has no successful fit, so no matched sources")
        m = fit.matches[fit.matches["image"] == exposure.name]
        out = Table({"RA": m["ra"], "DEC": m["dec"], "x": m["x"], "y": m["y"],
                     "chip": m["chip"], "ref_RA": m["ref_ra"], "ref_DEC": m["ref_dec"],
                     "dx": m["dx"], "dy": m["dy"], "used": m["used"]}, copy=True)
        out["dx"].unit = out["dy"].unit = "arcsec"
    else:
        raise SampError(f"which must be 'detected' or 'matched', not {which!r}")
    for name in ("RA", "DEC", "ref_RA", "ref_DEC"):
        if name in out.colnames:
            out[name].unit = "deg"
    for name in ("x", "y"):
        out[name].unit = "pix"
    # UCDs let TOPCAT, Aladin and DS9 recognise the position columns
    out["RA"].meta["ucd"] = "pos.eq.ra;meta.main"
    out["DEC"].meta["ucd"] = "pos.eq.dec;meta.main"
    out.meta["description"] = f"{exposure.name} {which} sources (tweakgui)"
    return out


class SampSender:
    """A SAMP client that sends images and tables to other applications.

    Parameters
    ----------
    name : str
        Name shown by the hub and the receiving applications.
    addr : str
        Address of this client; loopback keeps everything on this machine.

    Examples
    --------
    >>> sender = SampSender()                         # doctest: +SKIP
    >>> sender.connect()                              # hub from $SAMP_HUB or ~/.samp
    >>> [c.name for c in sender.list_clients()]       # ['ds9', 'topcat']
    >>> sender.send_image("j94f05bgq_flt.fits", recipient=ds9_id)
    >>> sender.send_sources(image_result, which="matched")
    >>> sender.close()
    """

    def __init__(self, name: str = "tweakgui", addr: str = "127.0.0.1"):
        from tweakgui import __version__

        self._metadata = {"samp.name": name, "samp.description.text":
                          "tweakgui astrometric alignment", "tweakgui.version": __version__}
        # callable (the default): pyvo counts a non-callable client as never connected
        self._client = SAMPIntegratedClient(name=name, metadata=self._metadata, addr=addr)
        self._tmpdir: Path | None = None
        self._count = 0

    @property
    def is_connected(self) -> bool:
        return self._client.is_connected

    def connect(self, hub=None) -> None:
        """Register with a hub.

        Parameters
        ----------
        hub : str, path, dict or None
            ``None`` finds the running hub as SAMP prescribes (``$SAMP_HUB`` or
            ``~/.samp``); a lockfile path or ``std-lockurl:`` string names one;
            a dict gives its parameters (``samp.hub.xmlrpc.url``, ``samp.secret``).
        """
        if self.is_connected:
            return
        params = _hub_params(hub)
        try:
            self._client.connect(hub_params=params, pool_size=1)
        except SAMPHubError as e:
            raise SampError("no SAMP hub is running: start TOPCAT, Aladin or DS9 "
                            f"(which start one) and try again ({_one_line(e)})") from None
        except (OSError, SAMPProxyError) as e:
            raise SampError(f"cannot reach the SAMP hub: {_one_line(e)}") from None
        self._client.declare_metadata(self._metadata)
        log.info("connected to SAMP hub %s", self._client.hub.lockfile.get("samp.hub.xmlrpc.url"))

    def close(self) -> None:
        """Unregister from the hub and remove the temporary tables."""
        if self.is_connected:
            try:
                self._client.disconnect()
            except Exception as e:  # the hub may already be gone; nothing left to do
                log.debug("SAMP disconnect: %s", e)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _require(self):
        if not self.is_connected:
            raise SampError("not connected to a SAMP hub (connect first)")

    def list_clients(self) -> list[SampClient]:
        """The other applications registered with the hub, e.g. DS9, TOPCAT, Aladin."""
        self._require()
        out = []
        try:
            for cid in self._client.get_registered_clients():
                if cid == _HUB_ID:
                    continue
                meta = self._client.get_metadata(cid)
                subs = self._client.get_subscriptions(cid)
                out.append(SampClient(cid, str(meta.get("samp.name", cid)),
                                      _subscribed(subs, IMAGE_MTYPE), _subscribed(subs, TABLE_MTYPE)))
        except (OSError, SAMPProxyError) as e:
            raise SampError(f"SAMP hub did not answer: {_one_line(e)}") from None
        return out

    def _notify(self, mtype: str, params: dict, recipient: str | None) -> list[str]:
        self._require()
        message = {"samp.mtype": mtype, "samp.params": params}
        try:
            if recipient is not None:
                self._client.notify(recipient, message)
                recipients = [recipient]
            else:
                recipients = list(self._client.notify_all(message))
        except (OSError, SAMPProxyError) as e:
            raise SampError(f"SAMP {mtype} failed: {_one_line(e)}") from None
        if not recipients:
            raise SampError(f"no SAMP client accepts {mtype}: start DS9, TOPCAT or Aladin")
        log.info("SAMP %s %s -> %s", mtype, params.get("url"), ", ".join(recipients))
        return recipients

    def send_image(self, path, name: str | None = None, recipient: str | None = None) -> list[str]:
        """Send a FITS image (``image.load.fits``) to ``recipient`` or to every subscriber.

        Returns the ids of the clients notified.
        """
        path = Path(path).resolve()
        if not path.is_file():
            raise SampError(f"image {path} does not exist")
        params = {"url": path.as_uri(), "name": name or path.name, "image-id": path.as_uri()}
        return self._notify(IMAGE_MTYPE, params, recipient)

    def send_table(self, table: Table, name: str, recipient: str | None = None) -> list[str]:
        """Write ``table`` as a VOTable and send it (``table.load.votable``).

        The file stays in a private temporary directory until :meth:`close`,
        because receivers read it after the notification returns.
        """
        self._require()
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="tweakgui-samp-"))
        self._count += 1
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
        path = self._tmpdir / f"{self._count:03d}_{safe}.vot"
        table.write(path, format="votable", overwrite=True)
        params = {"url": path.as_uri(), "name": name, "table-id": path.as_uri()}
        return self._notify(TABLE_MTYPE, params, recipient)

    def send_sources(self, image_result: ImageResult, which: str = "detected",
                     recipient: str | None = None) -> list[str]:
        """Send an image's detected or matched sources as a VOTable (see :func:`sources_table`)."""
        table = sources_table(image_result, which)
        return self.send_table(table, f"{image_result.exposure.name} {which} sources", recipient)


def _subscribed(subscriptions: dict, mtype: str) -> bool:
    """Whether a subscription map covers ``mtype`` (exactly or via ``image.*`` / ``*``)."""
    family = mtype.split(".")[0]
    return any(k in subscriptions for k in (mtype, f"{family}.*", "*"))
