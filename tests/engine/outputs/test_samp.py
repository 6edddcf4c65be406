"""SAMP sending, against pyvo's hub on loopback with a receiving test client."""

import queue
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine.model import STATUS_SUCCESS, Chip, Exposure, FitResult, ImageResult
from tweakgui.engine.outputs.samp import SampError, SampSender, sources_table

from pyvo.samp import SAMPHubServer, SAMPIntegratedClient, conf

WAIT_S = 10.0


@pytest.fixture
def hub(tmp_path):
    """A private hub on 127.0.0.1 with its lockfile in tmp_path; always stopped."""
    with conf.set_temp("use_internet", False):
        lockfile = tmp_path / "samp.lock"
        server = SAMPHubServer(web_profile=False, lockfile=str(lockfile), addr="127.0.0.1",
                               pool_size=1, label="tweakgui-test")
        server.start()
        try:
            yield server, lockfile
        finally:
            server.stop()


@pytest.fixture
def receiver(hub):
    """A client subscribed to image.load.fits and table.load.votable; a queue of what it got."""
    server, _ = hub
    got = queue.Queue()
    client = SAMPIntegratedClient(name="test-receiver", addr="127.0.0.1")
    client.connect(hub=server, pool_size=1)

    def on_message(private_key, sender_id, msg_id, mtype, params, extra):
        got.put((sender_id, mtype, params))

    for mtype in ("image.load.fits", "table.load.votable"):
        client.bind_receive_notification(mtype, on_message)
    try:
        yield client, got
    finally:
        if client.is_connected:
            client.disconnect()


@pytest.fixture
def sender(hub):
    _, lockfile = hub
    s = SampSender(name="tweakgui-test-sender")
    s.connect(lockfile)
    try:
        yield s
    finally:
        s.close()


def _received(got, mtype):
    sender_id, got_mtype, params = got.get(timeout=WAIT_S)
    assert got_mtype == mtype
    url = urlparse(params["url"])
    assert url.scheme == "file"
    return Path(unquote(url.path)), params


def _image_result():
    """One exposure of one 100x80 chip, a TAN WCS at (150, 2.2), three sources, one fit."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.2]
    w.wcs.crpix = [50.5, 40.5]
    w.wcs.cdelt = [-0.04 / 3600, 0.04 / 3600]
    chip = Chip(name="SCI,1", hdu=1, shape=(80, 100), wcs=w)
    exp = Exposure(path=Path("visit_a_flt.fits"), kind="fits", chips=[chip], group_id="a",
                   root="visit_a")
    cat = Table({"x": [10.0, 49.5, 90.0], "y": [5.0, 39.5, 70.0], "flux": [1.0, 2.0, 3.0]})
    matches = Table({
        "group_id": ["a", "a", "b"], "image": ["visit_a_flt.fits", "visit_a_flt.fits", "other.fits"],
        "chip": ["SCI,1"] * 3, "input_idx": [0, 2, 0], "ref_idx": [4, 7, 1],
        "x": [10.0, 90.0, 3.0], "y": [5.0, 70.0, 4.0],
        "ra": [150.001, 149.999, 10.0], "dec": [2.2001, 2.1999, -5.0],
        "ref_ra": [150.0010001, 149.9990002, 10.0], "ref_dec": [2.2001, 2.1999, -5.0],
        "dx": [0.0004, -0.0007, 0.0], "dy": [0.0, 0.0002, 0.0],
        "used": [True, False, True], "excluded": [False, False, False],
    })
    fit = FitResult(group_id="a", kind="relative", status=STATUS_SUCCESS, fitgeom="shift",
                    nmatch=2, matches=matches)
    return ImageResult(exposure=exp, status=STATUS_SUCCESS, fits=[fit], catalogs=[cat])


def test_send_image_reaches_receiver(sender, receiver, tmp_path):
    _, got = receiver
    data = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    path = tmp_path / "img.fits"
    fits.writeto(path, data)
    recipients = sender.send_image(path, name="my image")
    assert recipients == [receiver[0].get_public_id()]
    received, params = _received(got, "image.load.fits")
    assert params["name"] == "my image"
    assert received == path.resolve()
    np.testing.assert_array_equal(fits.getdata(received), data)


def test_send_table_writes_votable(sender, receiver):
    _, got = receiver
    table = Table({"RA": [150.125, 150.5, 151.0], "DEC": [2.0, 2.1, 2.2], "mag": [20.0, 21.0, 22.0]})
    sender.send_table(table, "ref catalog")
    received, params = _received(got, "table.load.votable")
    assert params["name"] == "ref catalog"
    back = Table.read(received, format="votable")
    assert len(back) == 3
    assert back["RA"][0] == pytest.approx(150.125, abs=1e-12)
    assert back["mag"][2] == pytest.approx(22.0)
    sender.close()  # the temporary VOTables go with the connection
    assert not received.exists()


def test_send_detected_sources(sender, receiver):
    _, got = receiver
    result = _image_result()
    sender.send_sources(result, which="detected")
    received, _ = _received(got, "table.load.votable")
    vot = parse_single_table(str(received))
    ucds = {f.name: f.ucd for f in vot.fields}
    assert ucds["RA"] == "pos.eq.ra;meta.main" and ucds["DEC"] == "pos.eq.dec;meta.main"
    back = vot.to_table()
    assert len(back) == 3
    ra, dec = result.exposure.chips[0].wcs.pixel_to_world_values(10.0, 5.0)
    # 1e-9 deg = 3.6 microarcsec: the position survives the VOTable exactly
    assert back["RA"][0] == pytest.approx(float(ra), abs=1e-9)
    assert back["DEC"][0] == pytest.approx(float(dec), abs=1e-9)
    # the pixel (49.5, 39.5) is CRPIX (0-based), so it lands on CRVAL
    assert back["RA"][1] == pytest.approx(150.0, abs=1e-9)
    assert list(back["x"]) == [10.0, 49.5, 90.0]


def test_send_matched_sources_only_this_image(sender, receiver):
    _, got = receiver
    sender.send_sources(_image_result(), which="matched")
    received, params = _received(got, "table.load.votable")
    assert "matched" in params["name"]
    back = Table.read(received, format="votable")
    assert len(back) == 2  # the third match belongs to other.fits
    assert back["RA"][0] == pytest.approx(150.001, abs=1e-12)
    assert back["ref_RA"][1] == pytest.approx(149.9990002, abs=1e-12)
    assert list(back["used"]) == [True, False]


def test_list_clients_names_receiver(sender, receiver):
    client, _ = receiver
    clients = sender.list_clients()
    ids = [c.id for c in clients]
    assert "hub" not in ids
    [me] = [c for c in clients if c.id == client.get_public_id()]
    assert me.accepts_images and me.accepts_tables
    # the sender itself is not listed
    assert all(c.name != "tweakgui-test-sender" for c in clients)


@pytest.mark.filterwarnings("ignore:No client was able to receive")
def test_no_subscriber_is_a_clean_error(sender, receiver):
    client, _ = receiver
    client.disconnect()
    with pytest.raises(SampError, match="no SAMP client accepts table.load.votable"):
        sender.send_table(Table({"RA": [1.0], "DEC": [2.0]}), "t")


def test_no_hub_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:file://{tmp_path}/nohub.lock")
    s = SampSender()
    with pytest.raises(SampError) as err:
        s.connect()
    assert "no SAMP hub is running" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SampError, match="lockfile .*missing.lock does not exist"):
        s.connect(tmp_path / "missing.lock")
    with pytest.raises(SampError, match="not connected"):
        s.send_table(Table({"RA": [1.0]}), "t")
    s.close()


def test_sources_table_rejects_bad_which():
    with pytest.raises(SampError, match="which must be"):
        sources_table(_image_result(), which="everything")


def test_connect_finds_hub_from_samp_hub_variable(hub, receiver, tmp_path, monkeypatch):
    """connect() with no argument uses $SAMP_HUB as the SAMP standard profile says."""
    _, lockfile = hub
    client, got = receiver
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lockfile.as_uri()}")
    path = tmp_path / "one.fits"
    fits.writeto(path, np.full((4, 5), 7.0, dtype=np.float32))
    with SampSender() as s:
        s.connect()
        assert s.is_connected
        assert s.send_image(path, recipient=client.get_public_id()) == [client.get_public_id()]
        received, _ = _received(got, "image.load.fits")
        assert fits.getdata(received).sum() == pytest.approx(7.0 * 20)
    assert not s.is_connected
