"""Catalog cache: a refit with other matching or fit parameters never detects again."""

import os

import numpy as np
import pytest
from astropy.io import fits

from tweakgui.engine import pipeline
from tweakgui.engine.detect import parallel as detection_workers
from tweakgui.engine.detect.cache import CatalogCache, detection_params
from tweakgui.engine.detect.visit import detect_visit
from tweakgui.engine.model import STATUS_SUCCESS
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas
from tweakgui.engine.visit import load_visit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("cache"), n_images=3, shape=(512, 512), seed=31)


@pytest.fixture
def counted(monkeypatch):
    """Count detections (in-process: jobs=1)."""
    calls = []
    real = detection_workers.detect_chip

    def counting(exposure, chip, params):
        calls.append(exposure.name)
        return real(exposure, chip, params)

    monkeypatch.setattr(detection_workers, "detect_chip", counting)
    return calls


def _errors(result, demo):
    return [wcs_error_mas(r.new_wcs[0], demo.truth[r.exposure.name][0], r.exposure.chips[0].shape)
            for r in result.images]


def test_refit_with_new_fit_parameters_detects_nothing(demo, counted):
    cache = CatalogCache()
    p1 = TweakRegParams(abs_refcat=str(demo.refcat))
    r1 = pipeline.run(load_visit([str(p) for p in demo.paths], p1), p1, jobs=1, cache=cache)
    assert len(counted) == 3
    p2 = p1.replace(fitgeometry="rscale", abs_fitgeometry="rscale", searchrad=1.5, abs_nclip=2)
    r2 = pipeline.run(load_visit([str(p) for p in demo.paths], p2), p2, jobs=1, cache=cache)
    assert len(counted) == 3  # zero detections in the refit
    assert cache.hits == 3
    for a, b in zip(r1.images, r2.images):
        assert np.array_equal(a.catalogs[0]["x"], b.catalogs[0]["x"])
    assert [r.status for r in r2.images] == [STATUS_SUCCESS] * 3
    assert r2.images[0].fit.fitgeom == "rscale"
    assert max(_errors(r2, demo)) < 2.0  # mas, with the cached catalogs


def test_detection_parameters_and_file_content_are_in_the_key(tmp_path, demo, counted):
    cache = CatalogCache()
    paths = []
    for p in demo.paths:
        q = tmp_path / p.name
        q.write_bytes(p.read_bytes())
        paths.append(str(q))
    params = TweakRegParams()
    detect_visit(load_visit(paths, params), params, jobs=1, cache=cache)
    assert len(counted) == 3
    # a detection parameter: all again
    p2 = TweakRegParams(snr_threshold=20.0)
    detect_visit(load_visit(paths, p2), p2, jobs=1, cache=cache)
    assert len(counted) == 6
    # one file rewritten with other pixels: only that one again
    with fits.open(paths[1], mode="update") as h:
        h["SCI"].data[10:20, 10:20] += 1.0
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    counted.clear()
    cats, _ = detect_visit(load_visit(paths, params), params, jobs=1, cache=cache)
    assert counted == [demo.paths[1].name]
    # matching and fit parameters are not
    assert set(detection_params(params)) >= {"starfinder", "snr_threshold", "bkg_boxsize", "kernel_fwhm"}
    assert not set(detection_params(params)) & {"searchrad", "fitgeometry", "abs_fitgeometry", "tolerance"}


def test_exclusion_regions_are_in_the_key(demo):
    cache = CatalogCache()
    params = TweakRegParams()
    visit = load_visit([str(demo.paths[0])], params)
    exp, chip = visit.exposures[0], visit.exposures[0].chips[0]
    k0 = cache.key(exp, chip, params)
    chip.meta["exclusion"] = ["circle(100,100,20)"]
    assert cache.key(exp, chip, params) != k0


def test_disk_cache_serves_a_new_process(tmp_path, demo, counted):
    params = TweakRegParams()
    paths = [str(p) for p in demo.paths]
    first, _ = detect_visit(load_visit(paths, params), params, jobs=1,
                                     cache=CatalogCache(directory=tmp_path / "c"))
    assert len(counted) == 3 and len(list((tmp_path / "c").glob("*.npy"))) == 3
    fresh = CatalogCache(directory=tmp_path / "c")  # as a later process would
    again, _ = detect_visit(load_visit(paths, params), params, jobs=1, cache=fresh)
    assert len(counted) == 3 and fresh.hits == 3
    for a, b in zip(first, again):
        for c in ("x", "y", "flux", "peak"):
            assert np.array_equal(a[0][c], b[0][c])


def test_damaged_cache_file_is_a_miss(tmp_path, demo, counted, caplog):
    params = TweakRegParams()
    cache = CatalogCache(directory=tmp_path)
    visit = load_visit([str(demo.paths[0])], params)
    detect_visit(visit, params, jobs=1, cache=cache)
    (f,) = tmp_path.glob("*.npy")
    f.write_bytes(b"not numpy")
    fresh = CatalogCache(directory=tmp_path)
    cats, errors = detect_visit(visit, params, jobs=1, cache=fresh)
    assert errors == [None] and len(cats[0][0]) > 50
    assert len(counted) == 2 and fresh.misses == 1
    assert "unreadable" in caplog.text


def test_lru_and_copies():
    from astropy.table import Table

    cache = CatalogCache(maxsize=2)
    for k in "abc":
        cache.put(k, Table({"x": [1.0], "y": [2.0]}))
    assert cache.get("a") is None and len(cache) == 2
    t = cache.get("b")
    t["x"][0] = 99.0  # callers may change what they get
    assert cache.get("b")["x"][0] == 1.0
    with pytest.raises(ValueError, match="maxsize"):
        CatalogCache(maxsize=-1)
