"""Big reference catalog files: only the rows in the visit's cone are read, the same rows as a full read."""

import numpy as np
import pytest
from astropy.table import Table

from tweakgui.engine.io.tables import read_table
from tweakgui.engine.model import InputError
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.refcat import files, window
from tweakgui.engine.refcat.gaia import footprint_search_params
from tweakgui.engine.refcat.load import load_refcat
from tweakgui.engine.synthetic import make_demo_visit
from tweakgui.engine.visit import load_visit

N = 200_000


def _gaia_like(n, ra0, dec0, rng, side=0.6):
    t = Table()
    t["source_id"] = np.arange(n, dtype=np.int64) + 10**15
    t["ra"] = ra0 + rng.uniform(-side / 2, side / 2, n) / np.cos(np.radians(dec0))
    t["dec"] = dec0 + rng.uniform(-side / 2, side / 2, n)
    t["ra_error"] = rng.uniform(0.02, 1.0, n)
    t["dec_error"] = rng.uniform(0.02, 1.0, n)
    t["pmra"] = rng.normal(0, 5, n)
    t["pmdec"] = rng.normal(0, 5, n)
    t["pmra"][::7] = np.nan  # two-parameter sources
    t["phot_g_mean_mag"] = rng.uniform(15.0, 21.0, n)
    t["ref_epoch"] = np.full(n, 2016.0)
    t["ra"].unit = t["dec"].unit = "deg"
    t["pmra"].unit = t["pmdec"].unit = "mas / yr"
    t["ra_error"].unit = t["dec_error"].unit = "mas"
    return t


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("bigref")
    demo = make_demo_visit(d, n_images=2, shape=(256, 256), seed=4)
    visit = load_visit([str(p) for p in demo.paths], TweakRegParams())
    ra0, dec0, radius = footprint_search_params(visit.exposures)
    t = _gaia_like(N, ra0, dec0, np.random.default_rng(1))
    t["pmra"][0], t["pmdec"][0] = 5000.0, 0.0  # 0.14 deg in a century
    t["ra"][0], t["dec"][0] = ra0, dec0 + radius + 0.1
    paths = {"fits": d / "big.fits", "ecsv": d / "big.ecsv"}
    for p in paths.values():
        t.write(p)
    return demo, visit, (ra0, dec0, radius + 0.02), paths


def _expected_rows(full: Table, cone) -> np.ndarray:
    ra0, dec0, radius = cone
    d1, d2 = np.radians(dec0), np.radians(full["DEC"])
    sep = np.degrees(np.arccos(np.clip(np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2)
                                       * np.cos(np.radians(full["RA"] - ra0)), -1, 1)))
    pm = np.nan_to_num(np.hypot(full["pmra"], full["pmdec"])) if "pmra" in full.colnames else 0.0
    return sep <= radius + pm * window.PM_YEARS / 3.6e6


@pytest.mark.parametrize("kind", ["fits", "ecsv"])
def test_rows_in_the_cone_are_those_of_a_full_read(big, kind):
    _, _, cone, paths = big
    full = files.reference_table(read_table(paths[kind]), paths[kind])
    part = files.read_refcat(paths[kind], cone=cone)
    assert part.meta["rows_in_file"] == N
    want = full[_expected_rows(full, cone)]
    assert 100 < len(want) < N / 10
    assert part.colnames == full.colnames
    assert 0 in part["source_id"] - 10**15  # the fast star
    for c in full.colnames:
        assert part[c].dtype == full[c].dtype
        np.testing.assert_array_equal(np.asarray(part[c]), np.asarray(want[c]))


@pytest.mark.parametrize("kind", ["fits", "ecsv"])
def test_the_selected_reference_is_that_of_a_full_read(big, kind, monkeypatch):
    _, visit, _, paths = big
    params = TweakRegParams(abs_refcat=str(paths[kind]), abs_refcat_nbright=20)
    ref = load_refcat(visit, params)
    (read, n_read), (cut, n_cut) = ref.meta["selection"][:2]
    assert (read, n_read, cut) == ("read", N, "in the visit's cone") and n_cut < N / 10
    monkeypatch.setattr(window, "BIG_FILE_BYTES", 2**62)
    whole = load_refcat(visit, params)
    assert "rows_in_file" not in whole.meta
    assert len(ref) == len(whole) == 20
    for c in whole.colnames:
        np.testing.assert_array_equal(np.asarray(ref[c]), np.asarray(whole[c]))


def test_a_position_that_is_not_a_number_is_still_refused(big, tmp_path):
    _, _, cone, paths = big
    t = Table.read(paths["fits"])
    t["dec"][N - 1] = np.nan  # far from the visit or not, the file is wrong
    p = tmp_path / "bad.fits"
    t.write(p)
    with pytest.raises(InputError, match="not finite"):
        files.read_refcat(p, cone=cone)


def test_a_small_file_is_read_whole(big):
    demo, visit, cone, _ = big
    assert "rows_in_file" not in files.read_refcat(demo.refcat, cone=cone).meta
    ref = load_refcat(visit, TweakRegParams(abs_refcat=str(demo.refcat)))
    assert ref.meta["selection"][0] == ("read", len(Table.read(demo.refcat)))
