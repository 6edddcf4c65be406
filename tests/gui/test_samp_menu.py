"""File ▸ Send via SAMP, against pyvo's hub on loopback with a receiving client."""

import queue
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from pyvo.samp import SAMPHubServer, SAMPIntegratedClient, conf


@pytest.fixture
def hub_and_receiver(tmp_path, monkeypatch):
    with conf.set_temp("use_internet", False):
        lockfile = tmp_path / "samp.lock"
        server = SAMPHubServer(web_profile=False, lockfile=str(lockfile), addr="127.0.0.1", pool_size=1)
        server.start()
        monkeypatch.setenv("SAMP_HUB", f"std-lockurl:file://{lockfile}")
        got = queue.Queue()
        client = SAMPIntegratedClient(name="receiver", addr="127.0.0.1")
        client.connect(hub=server, pool_size=1)
        for mtype in ("image.load.fits", "table.load.votable"):
            client.bind_receive_notification(mtype, lambda *a: got.put((a[3], a[4])))
        try:
            yield got
        finally:
            client.disconnect()
            server.stop()


def _path(params):
    return Path(unquote(urlparse(params["url"]).path))


def test_send_image_and_sources(qtbot, make_window, small_demo, hub_and_receiver):
    got = hub_and_receiver
    win = make_window(abs_refcat=str(small_demo.refcat))
    with qtbot.waitSignal(win.ctl.jobDone, timeout=30000):
        win.add_inputs([str(p) for p in small_demo.paths[:2]])
    # before a run there are no sources: a clear message, nothing sent
    win.samp.actions["detected"].trigger()
    assert win.errors and "Align the visit first" in win.errors[-1][1]
    with qtbot.waitSignal(win.ctl.jobDone, timeout=60000):
        win.actions["run"].trigger()
    name = small_demo.paths[1].name
    win.ctl.select_image(name)

    win.samp.actions["image"].trigger()
    mtype, params = got.get(timeout=10)
    assert mtype == "image.load.fits"
    with fits.open(_path(params)) as a, fits.open(small_demo.paths[1]) as b:
        assert np.array_equal(a["SCI", 1].data, b["SCI", 1].data, equal_nan=True)

    win.samp.actions["matched"].trigger()
    mtype, params = got.get(timeout=10)
    assert mtype == "table.load.votable"
    table = parse_single_table(str(_path(params))).to_table()
    fit = win.ctl.shown_fit(name)
    mine = fit.matches[fit.matches["image"] == name]
    assert len(table) == len(mine)
    win.samp.close()


def test_no_hub_is_a_clear_error(make_window, small_demo, qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:file://{tmp_path / 'none.lock'}")
    win = make_window()
    with qtbot.waitSignal(win.ctl.jobDone, timeout=30000):
        win.add_inputs([str(small_demo.paths[0])])
    win.samp.actions["image"].trigger()
    assert win.errors and win.errors[-1][0] == "SAMP"
    assert "\n" not in win.errors[-1][1]
