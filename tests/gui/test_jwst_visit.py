"""The window on a JWST visit: GWCS cal files rendered from CEERS' published WCS (real data)."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]



@pytest.fixture(scope="module")
def jwst_images(shared_data, tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import ceers_render as cr

    out = tmp_path_factory.mktemp("jwst")
    ceers = shared_data / "ceers-nircam"
    imgs = cr.render_visit(out, exposures=cr.DEFAULT_EXPOSURES[:2], detectors=("nrca1",), ceers=ceers)
    return imgs, ceers / cr.REFCAT, cr


def test_jwst_visit_in_the_window(qtbot, make_window, jwst_images, tmp_path):
    imgs, refcat, cr = jwst_images
    win = make_window(abs_refcat=str(refcat), **cr.CEERS_F115W)
    ctl = win.ctl
    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        ctl.set_inputs([str(r.path) for r in imgs])
    assert b.args == ["load", True]
    assert {e.kind for e in ctl.visit.exposures} == {"jwst"}
    with qtbot.waitSignal(ctl.jobDone, timeout=120000) as b:
        ctl.run()
    assert b.args == ["run", True]
    assert [r.status for r in ctl.result.images] == ["SUCCESS", "SUCCESS"]
    # each aligned GWCS lands within 5 mas of CEERS' published WCS (pre-tweak: tens of mas)
    for r, img in zip(ctl.result.images, imgs):
        d = cr.wcs_distance_mas(r.new_wcs[0], img.published_wcs)
        assert float(np.sqrt(np.mean(d ** 2))) < 5.0
    name = imgs[1].path.name
    ctl.select_image(name)
    qtbot.waitUntil(lambda: win.image_view.image.image is not None, timeout=20000)
    assert win.image_view.image.image.shape == (2048, 2048)
    assert win.image_view.count("matched") > 20
    qtbot.waitUntil(lambda: win.image_view.count("refcat") > 20, timeout=20000)  # projected in the background
    assert len(win.residuals.keys) > 20
    # GWCS footprints before and after
    win.docks["visit"].raise_()
    qtbot.waitUntil(lambda: win.visit_view.n_drawn == {"before": 2, "after": 2}, timeout=5000)
    out = tmp_path / "out"
    out.mkdir()
    with qtbot.waitSignal(ctl.jobDone, timeout=120000) as b:
        ctl.save(out, kinds=["images", "wcs", "report"])
    assert b.args == ["save", True]
    names = {p.name for p in out.iterdir()}
    for img in imgs:
        root = img.path.name.replace("_cal.fits", "")
        assert {f"{root}_tweakreg.fits", f"{root}_tweakreg.asdf"} <= names
