"""Source detection against synthetic star fields with known positions.

Stars: pixel-integrated Gaussians, FWHM 2.5 px, fluxes 2e3..5e4 (peak S/N 55..1400),
read noise 5 on a background of 100, with single-pixel cosmic rays and a NaN column.
Tolerances are in pixels.
"""

import numpy as np
import pytest
from _stars import make_star_field, match_to_truth

from tweakgui.engine.detect.finders import COLUMNS, detect_sources
from tweakgui.engine.params.spec import TweakRegParams

FINDERS = ("dao", "iraf", "segmentation", "sep")


def params_for(finder, **kw):
    """Defaults of TweakRegStep, with DAOFIND's own sharpness/roundness bounds for 'dao'.

    TweakRegStep's sharp/round defaults are IRAF starfind's (roundness 0..0.2);
    DAOStarFinder's roundness is signed, so those would drop round stars.
    """
    base = dict(starfinder=finder, brightest=None)
    if finder == "dao":
        base.update(sharplo=0.2, sharphi=1.0, roundlo=-1.0, roundhi=1.0)
    base.update(kw)
    return TweakRegParams(**base)


@pytest.fixture(scope="module")
def field():
    return make_star_field(shape=(512, 512), nstars=80, n_cosmic=30, nan_columns=(150,), seed=3)


@pytest.fixture(scope="module")
def catalogs(field):
    return {f: detect_sources(field.data, params_for(f)) for f in FINDERS}


def _rms(dx, dy):
    return float(np.sqrt(np.mean(dx**2 + dy**2)))


@pytest.mark.parametrize("finder", FINDERS)
def test_recovers_isolated_stars(field, catalogs, finder):
    cat = catalogs[finder]
    assert cat.colnames[:4] == list(COLUMNS)
    assert all(cat[c].dtype == np.float64 for c in COLUMNS)
    assert np.all(np.diff(cat["flux"]) <= 0), "sorted by decreasing flux"
    ti, _, dx, dy = match_to_truth(cat, field.truth, radius=1.0)
    assert len(ti) == len(field.truth)  # all 80 isolated stars
    # every photutils finder within 0.05 px RMS; windowed centroids much better
    limit = 0.05 if finder == "dao" else 0.015
    assert _rms(dx, dy) < limit
    assert abs(dx.mean()) < 0.01 and abs(dy.mean()) < 0.01


def test_sep_agrees_with_photutils_finders(field, catalogs):
    _, sj, dx, dy = match_to_truth(catalogs["sep"], field.truth, radius=1.0)
    sep_rms = _rms(dx, dy)
    assert sep_rms < 0.02
    sep_stars = catalogs["sep"][sj]
    for finder in ("dao", "iraf", "segmentation"):
        _, fj, dx2, dy2 = match_to_truth(catalogs[finder], field.truth, radius=1.0)
        # accuracy against the truth within 0.02 px of the photutils finder's
        assert sep_rms <= _rms(dx2, dy2) + 0.02
        # star by star: within 0.02 px (RMS) of the windowed photutils centroids,
        # within 0.05 px of DAO's marginal-fit centroids
        ti, _, ddx, ddy = match_to_truth(sep_stars, catalogs[finder][fj], radius=1.0)
        assert len(ti) == len(field.truth)
        assert _rms(ddx, ddy) < (0.05 if finder == "dao" else 0.02)


@pytest.mark.parametrize("finder", ("dao", "iraf"))
def test_cosmic_rays_rejected_by_sharpness(field, catalogs, finder):
    from astropy.table import Table

    crs = Table({"x": field.cosmic_rays[:, 0], "y": field.cosmic_rays[:, 1]})
    found, _, _, _ = match_to_truth(catalogs[finder], crs, radius=1.0)
    assert len(crs) == 30
    assert len(found) <= 3  # at most 10 % of the hot pixels survive


def test_dao_sharphi_is_honoured(field):
    """DAO sharpness of a hot pixel is ~1.4: kept with TweakRegStep's sharphi=2, cut at 1."""
    from astropy.table import Table

    crs = Table({"x": field.cosmic_rays[:, 0], "y": field.cosmic_rays[:, 1]})
    cat = detect_sources(field.data, params_for("dao", sharphi=2.0))
    assert len(match_to_truth(cat, crs, radius=1.0)[0]) >= 27


def test_roundness_and_sharpness_bounds_honoured(field, catalogs):
    n_all = len(catalogs["dao"])
    # DAO roundness is signed: TweakRegStep's 0..0.2 keeps roughly a quarter of round stars
    n_pos = len(detect_sources(field.data, params_for("dao", roundlo=0.0, roundhi=0.2)))
    assert n_pos < 0.6 * n_all
    # IRAF sharpness of these stars is ~0.75: a lower bound of 0.9 rejects them all
    assert len(detect_sources(field.data, params_for("iraf", sharplo=0.9))) < 5
    assert len(detect_sources(field.data, params_for("iraf", roundhi=0.005))) < 0.5 * len(catalogs["iraf"])


@pytest.mark.parametrize("finder", ("dao", "iraf"))
def test_minsep_fwhm(finder):
    # two equal stars 5 px apart: resolved with the 2 px minimum, merged at 3 FWHM (8 px)
    sf = make_star_field(shape=(64, 64), positions=[(30.0, 32.0), (35.0, 32.0)],
                         fluxes=[2e4, 2e4], seed=2)
    assert len(detect_sources(sf.data, params_for(finder, minsep_fwhm=0.0))) == 2
    assert len(detect_sources(sf.data, params_for(finder, minsep_fwhm=3.0))) == 1


@pytest.mark.parametrize("finder", FINDERS)
def test_brightest(field, finder):
    # every source is kept, brightest first: the first ``brightest`` rows seed the coarse match
    cat = detect_sources(field.data, params_for(finder, brightest=10))
    assert len(cat) >= 80
    assert np.all(np.diff(np.asarray(cat["flux"])) <= 0)
    ti, _, _, _ = match_to_truth(cat[:10], field.truth, radius=1.0)
    top10 = set(np.argsort(-np.asarray(field.truth["flux"]))[:10])
    assert len(top10 & set(ti)) >= 9
    assert len(detect_sources(field.data, params_for(finder, brightest=0))) >= 80


@pytest.mark.parametrize("finder", FINDERS)
def test_peakmax(field, finder):
    peak = np.asarray(field.truth["peak"])
    peakmax = float(np.median(peak))
    cat = detect_sources(field.data, params_for(finder, peakmax=peakmax))
    assert np.all(cat["peak"] < peakmax)
    ti, _, _, _ = match_to_truth(cat, field.truth, radius=1.0)
    kept = np.zeros(len(peak), bool)
    kept[ti] = True
    assert not kept[peak > 1.2 * peakmax].any()
    assert kept[peak < 0.8 * peakmax].all()


@pytest.mark.parametrize("finder", FINDERS)
def test_snr_threshold(finder):
    # a ladder of peak S/N from 2 to 400 against a noise of 5
    rng = np.random.default_rng(7)
    xs, ys = np.meshgrid(np.arange(24, 480, 40.0), np.arange(24, 480, 40.0))
    pos = np.column_stack([xs.ravel(), ys.ravel()]) + rng.uniform(-0.5, 0.5, (xs.size, 2))
    amp = np.geomspace(2, 400, len(pos)) * 5.0
    flux = amp / 0.134  # peak pixel of a centred FWHM 2.5 star holds 13.4 % of the flux
    sf = make_star_field(shape=(512, 512), positions=pos, fluxes=flux, seed=8)
    snr = np.asarray(sf.truth["peak"]) / sf.noise
    for thr in (5.0, 20.0):
        # npixels=5: a faint star's segment on the convolved image is small
        cat = detect_sources(sf.data, params_for(finder, snr_threshold=thr, npixels=5))
        ti, _, _, _ = match_to_truth(cat, sf.truth, radius=1.0)
        found = np.zeros(len(pos), bool)
        found[ti] = True
        assert found[snr > 3 * thr].all(), f"threshold {thr}: bright stars missed"
        assert not found[snr < thr / 3].any(), f"threshold {thr}: faint stars kept"
        assert len(cat) == found.sum()


@pytest.mark.parametrize("finder", FINDERS)
def test_masked_pixels_yield_no_sources(finder):
    sf = make_star_field(shape=(400, 400), nstars=120, nan_columns=(60,), seed=11, min_sep=15)
    mask = np.zeros(sf.data.shape, bool)
    mask[100:260, 150:330] = True  # flagged block
    cat = detect_sources(sf.data, params_for(finder), mask=mask)
    x, y = np.asarray(cat["x"]), np.asarray(cat["y"])
    inside = (x > 152) & (x < 327) & (y > 102) & (y < 257)
    assert not inside.any()
    assert not (np.abs(x - 60) < 1.0).any()
    tx, ty = np.asarray(sf.truth["x"]), np.asarray(sf.truth["y"])
    clear = ~((tx > 140) & (tx < 340) & (ty > 90) & (ty < 270)) & (np.abs(tx - 60) > 8)
    ti, _, _, _ = match_to_truth(cat, sf.truth[clear], radius=1.0)
    assert len(ti) >= 0.95 * clear.sum()


@pytest.mark.parametrize("finder", FINDERS)
@pytest.mark.parametrize("boxsize,ramp", [(400, 0.0), (64, 100.0)])
def test_background_mostly_masked(finder, boxsize, ramp):
    """85 % of the image masked: the stars of the open 200x200 window are all found.

    With 64 px boxes the background follows a ramp of 100 (20 sigma) across the image;
    with a box larger than the open window the flat background is still estimated.
    """
    sf = make_star_field(shape=(512, 512), nstars=150, seed=12, min_sep=15)
    data = sf.data + np.linspace(0, ramp, 512, dtype=np.float32)[None, :]
    mask = np.ones(data.shape, bool)
    mask[300:500, 40:240] = False
    cat = detect_sources(data, params_for(finder, bkg_boxsize=boxsize), mask=mask)
    tx, ty = np.asarray(sf.truth["x"]), np.asarray(sf.truth["y"])
    inwin = (tx > 46) & (tx < 234) & (ty > 306) & (ty < 494)
    ti, _, dx, dy = match_to_truth(cat, sf.truth[inwin], radius=1.0)
    assert inwin.sum() > 20
    assert len(ti) == inwin.sum()
    assert _rms(dx, dy) < 0.05
    # nothing spurious from the ramp or the mask edges (stars just outside the
    # window with wings in it may be found, with truncated centroids)
    near, _, _, _ = match_to_truth(sf.truth, cat, radius=4.0)
    assert len(near) == len(cat)


@pytest.mark.parametrize("finder", FINDERS)
def test_no_sources_gives_empty_table(finder):
    rng = np.random.default_rng(5)
    noise = rng.normal(100.0, 5.0, (256, 256)).astype(np.float32)
    cat = detect_sources(noise, params_for(finder))
    assert len(cat) == 0 and cat.colnames == list(COLUMNS)
    nan = np.full((64, 64), np.nan)
    cat = detect_sources(nan, params_for(finder), weight_col=True)
    assert len(cat) == 0 and cat.colnames == list(COLUMNS) + ["weight"]


@pytest.mark.parametrize("finder", ("iraf", "sep"))
def test_big_endian_and_integer_input(field, catalogs, finder):
    be = field.data.astype(">f8")
    cat = detect_sources(be, params_for(finder))
    assert len(cat) == len(catalogs[finder])
    assert np.allclose(np.sort(cat["x"]), np.sort(catalogs[finder]["x"]), atol=1e-3)
    ints = np.nan_to_num(field.data, nan=0).astype(np.int32)
    mask = ~np.isfinite(field.data)
    cat = detect_sources(ints, params_for(finder), mask=mask)
    ti, _, dx, dy = match_to_truth(cat, field.truth, radius=1.0)
    assert len(ti) == 80 and _rms(dx, dy) < 0.05


def test_weight_column(field):
    cat = detect_sources(field.data, params_for("sep"), weight_col=True)
    w = np.asarray(cat["weight"])
    assert w.max() == pytest.approx(1.0) and np.all(w >= 0)
    # weight grows as flux squared (background-limited S/N squared); the local
    # background RMS varies by a few per cent across the image
    bright = cat["flux"] > 0
    ratio = w[bright] / np.asarray(cat["flux"][bright]) ** 2
    assert np.ptp(ratio) / ratio.mean() < 0.1


def test_bad_mask_shape(field):
    with pytest.raises(ValueError, match="mask shape"):
        detect_sources(field.data, params_for("iraf"), mask=np.zeros((3, 3), bool))


@pytest.mark.parametrize("finder", ("segmentation", "sep"))
def test_deblending_parameters(finder):
    """Two blended stars 8 px apart (3.2 FWHM, flux ratio 3; one segment on the
    convolved image): split with the default 32 levels and contrast 0.001, kept as
    one with contrast 1 (or a single level)."""
    sf = make_star_field(shape=(64, 64), positions=[(29.0, 32.0), (37.0, 32.0)],
                         fluxes=[3e4, 1e4], seed=4)
    cat = detect_sources(sf.data, params_for(finder))
    assert len(cat) == 2
    ti, _, dx, dy = match_to_truth(cat, sf.truth, radius=1.0)
    assert len(ti) == 2 and np.all(np.hypot(dx, dy) < 0.05)
    assert cat["flux"][1] / cat["flux"][0] == pytest.approx(1 / 3, rel=0.05)
    assert len(detect_sources(sf.data, params_for(finder, contrast=1.0))) == 1
    assert len(detect_sources(sf.data, params_for(finder, nlevels=1))) == 1


@pytest.mark.parametrize("finder", FINDERS)
def test_input_untouched_and_inf_masked(field, finder):
    data = field.data.copy()
    data[200, 100:103] = np.inf
    data[300, 300] = -np.inf
    before = data.copy()
    cat = detect_sources(data, params_for(finder))
    assert np.array_equal(data, before, equal_nan=True)
    assert not (np.hypot(cat["x"] - 101, cat["y"] - 200) < 3).any()
    assert not (np.hypot(cat["x"] - 300, cat["y"] - 300) < 3).any()
    ti, _, _, _ = match_to_truth(cat, field.truth, radius=1.0)
    assert len(ti) >= len(field.truth) - 2


def test_sigma_radius_sets_the_kernel_footprint(field):
    """IRAF starfind's flux is the sum within sigma_radius kernel sigmas: about the
    enclosed fraction of a Gaussian, 1 - exp(-k^2/2) = 0.68 at k=1.5 and 0.99 at k=3
    (less a little for the pixel grid and the local sky)."""
    ratios = {}
    for k in (1.5, 3.0):
        cat = detect_sources(field.data, params_for("iraf", sigma_radius=k))
        ti, fj, _, _ = match_to_truth(cat, field.truth, radius=1.0)
        ratios[k] = np.median(np.asarray(cat["flux"])[fj] / np.asarray(field.truth["flux"])[ti])
    assert 0.55 < ratios[1.5] < 0.70
    assert 0.95 < ratios[3.0] < 1.0
    dao = [np.median(detect_sources(field.data, params_for("dao", sigma_radius=k))["flux"])
           for k in (1.5, 3.0)]
    assert dao[1] > dao[0]


def test_star_finders_keep_their_shape_measures():
    """sharpness and roundness (what sharplo/hi and roundlo/hi cut on) stay in the catalog."""
    from photutils.datasets import make_100gaussians_image

    from tweakgui.engine.params.spec import TweakRegParams

    data = make_100gaussians_image().astype(np.float32)
    bad = np.zeros(data.shape, bool)
    for finder, rnd in (("iraf", "roundness"), ("dao", "roundness1")):
        p = TweakRegParams(starfinder=finder, kernel_fwhm=3.0, snr_threshold=5.0, roundlo=-1.0)
        cat = detect_sources(data, p, mask=bad)
        assert len(cat) >= 3 and cat.colnames[:4] == list(COLUMNS)
        assert "sharpness" in cat.colnames and rnd in cat.colnames
        s = np.asarray(cat["sharpness"])
        assert np.all((s >= p.sharplo) & (s <= p.sharphi))
