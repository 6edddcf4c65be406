"""Mosaic alignment of CEERS NIRCam catalogs: the published answer, linear cost, same result in processes.

60 of CEERS' 690 published tweaked GWCS (every 11th file: all pointings and
filters).  Each image gets a catalog of the HST reference sources projected
through its *published* WCS (+0.03 px noise) and its *pre-tweak* WCS (the
published one without v2v3corr); aligning to the HST catalog must give back
the published WCS.  Cost is checked by counting operations, never by timing.
"""

import contextlib

import ceers_render as cr
import numpy as np
import pytest
from astropy.table import Table
from scipy.spatial import cKDTree

from tweakgui.engine import pipeline
from tweakgui.engine.fit import align
from tweakgui.engine.model import STATUS_SUCCESS, Visit
from tweakgui.engine.footprint import unit_vectors
from tweakgui.engine.params.spec import TweakRegParams

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

CEERS_PARAMS = cr.CEERS_MOSAIC


@pytest.fixture(scope="module")
def ceers(shared_data, tmp_path_factory):
    from ceers_render import untweak

    from tweakgui.engine.io.jwst import read_wcs_exposure

    d = shared_data / "ceers-nircam"
    refpath = d / "tweakreg" / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv"
    ref = Table.read(refpath, format="ascii.ecsv")
    ra, dec = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    tree = cKDTree(unit_vectors(ra, dec))
    files = sorted((d / "batch_scripts" / "tweakreg_wcs").glob("*_tweakreg.asdf"))[::11][:60]
    out = tmp_path_factory.mktemp("ceers_mosaic")
    rng = np.random.default_rng(0)
    exposures, truth = [], {}
    for f in files:
        e = read_wcs_exposure(f)
        e.group_id = e.root  # CEERS tweaked every detector on its own
        chip = e.chips[0]
        w = chip.wcs
        info = chip.meta["wcsinfo"]
        near = np.asarray(tree.query_ball_point(unit_vectors([info["ra_ref"]], [info["dec_ref"]])[0],
                                                np.radians(4 / 60)), int)
        x, y = w.backward_transform(ra[near], dec[near])
        ny, nx = chip.shape
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (x < nx - 1) & (y > 0) & (y < ny - 1)
        cat = out / f"{e.root}_cat.fits"
        Table({"x": x[ok] + rng.normal(0, 0.03, ok.sum()),
               "y": y[ok] + rng.normal(0, 0.03, ok.sum())}).write(cat)
        chip.catalog_path = cat
        chip.wcs = untweak(w)
        truth[e.name] = w
        exposures.append(e)
    return exposures, truth, refpath, len(ref)


def _distance_mas(w1, w0, n=9):
    yy, xx = np.mgrid[0:2047:complex(n), 0:2047:complex(n)]
    r1, d1 = w1(xx.ravel(), yy.ravel(), with_bounding_box=False)
    r0, d0 = w0(xx.ravel(), yy.ravel(), with_bounding_box=False)
    return float(np.sqrt(np.mean(((r1 - r0) * np.cos(np.radians(d0))) ** 2 + (d1 - d0) ** 2)) * 3.6e6)


@pytest.fixture(scope="module")
def counted_run(ceers):
    """One in-process run (jobs=1) with the expensive operations counted."""
    from spherical_geometry.polygon import SphericalPolygon
    from tweakgui.engine.fit.corrector import SharedJWSTCorrector

    exposures, truth, refpath, nref = ceers
    counts = {"polygon_ops": 0, "correctors": 0, "refs_per_group": []}
    mp = pytest.MonkeyPatch()

    def counting(name, fn):
        def f(*a, **k):
            counts[name] += 1
            return fn(*a, **k)
        return f

    for op in ("multi_union", "intersection", "multi_intersection"):
        mp.setattr(SphericalPolygon, op, counting("polygon_ops", getattr(SphericalPolygon, op)))
    mp.setattr(SharedJWSTCorrector, "__init__", counting("correctors", SharedJWSTCorrector.__init__))
    near = align.ReferenceIndex.near

    def counting_near(self, ra, dec, grow):
        rows = near(self, ra, dec, grow)
        counts["refs_per_group"].append(len(rows))
        return rows

    mp.setattr(align.ReferenceIndex, "near", counting_near)
    params = TweakRegParams(abs_refcat=str(refpath), **CEERS_PARAMS)
    try:
        result = pipeline.run(Visit(list(exposures)), params, jobs=1, cache=None)
    finally:
        mp.undo()
    return result, counts


def test_recovers_the_published_wcs(ceers, counted_run):
    exposures, truth, _, _ = ceers
    result, _ = counted_run
    assert [r.status for r in result.images] == [STATUS_SUCCESS] * 60
    pre = [_distance_mas(e.chips[0].wcs, truth[e.name]) for e in exposures]
    err = [_distance_mas(r.new_wcs[0], truth[r.exposure.name]) for r in result.images]
    assert np.median(pre) > 100  # the v2v3corr step moves CEERS' images by 0.1-0.4"
    assert np.median(err) < 1.5, np.median(err)  # mas
    assert max(err) < 10.0, max(err)  # mas; a few detectors with few sources
    fits = [r.fit for r in result.images]
    assert all(f.kind == "absolute" and f.nmatch >= 15 for f in fits)


def test_cost_is_linear_in_the_number_of_images(ceers, counted_run):
    _, _, _, nref = ceers
    _, counts = counted_run
    n = 60
    # no tweakwcs call that builds polygons or catalogs of every group
    assert counts["polygon_ops"] == 0
    # one corrector per image and stage (relative only for the groups that
    # can reach the reference group), one for each stage's tangent plane
    assert counts["correctors"] <= 2 * n + 2
    # every group is matched against its neighbourhood, never the whole catalog
    assert len(counts["refs_per_group"]) >= n
    assert max(counts["refs_per_group"]) < 0.05 * nref



@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_processes_give_the_same_wcs(ceers, counted_run, monkeypatch, method):
    """... and the same total corrections, measured by the workers of the last stage, not the parent;
    whether the workers inherit the stage's entries (forked: the command line) or get them pickled
    (from a forkserver: the GUI's thread)."""
    import multiprocessing as mp

    from tweakgui.engine.fit import correction, mosaic
    from tweakgui.engine.processes import forkserver_context

    exposures, truth, refpath, _ = ceers
    serial, _ = counted_run
    params = TweakRegParams(abs_refcat=str(refpath), **CEERS_PARAMS)
    in_parent = []
    real = correction.image_correction
    monkeypatch.setattr(correction, "image_correction", lambda *a: in_parent.append(1) or real(*a))
    monkeypatch.setattr(mosaic, "pool_context", lambda: mp.get_context("fork") if method == "fork"
                        else forkserver_context())
    keys, real_inherited = [], mosaic.inherited

    @contextlib.contextmanager
    def inherited(obj, ctx):
        with real_inherited(obj, ctx) as key:
            keys.append(key)
            yield key

    monkeypatch.setattr(mosaic, "inherited", inherited)
    par = pipeline.run(Visit(list(exposures)), params, jobs=2, cache=None)
    assert in_parent == []
    assert keys and all((k is not None) == (method == "fork") for k in keys)
    for a, b in zip(serial.images, par.images):
        assert a.status == b.status == STATUS_SUCCESS
        assert _distance_mas(a.new_wcs[0], b.new_wcs[0]) < 1e-3  # mas
        assert a.fit.nmatch == b.fit.nmatch
        ca, cb = a.correction, b.correction
        assert ca.ref_pixel == cb.ref_pixel and (ca.ref_ra, ca.ref_dec) == (cb.ref_ra, cb.ref_dec)
        np.testing.assert_allclose(ca.shift_arcsec, cb.shift_arcsec, rtol=0, atol=1e-6)  # arcsec
        np.testing.assert_allclose(ca.shift_pix, cb.shift_pix, rtol=0, atol=1e-4)
        assert abs(ca.rotation_deg - cb.rotation_deg) < 1e-7 and abs(ca.scale - cb.scale) < 1e-9


@pytest.mark.parametrize("per_job", [1, None])  # groups in processes; the few left fitted in this process
def test_relative_groups_set_aside_fail_as_the_workers_would(ceers, monkeypatch, per_job):
    """Groups whose corners put them away from every reference group source are not sent to the workers:
    their fits, and every other group's fit and WCS, are those of a serial run."""
    from tweakgui.engine.detect.visit import detect_visit
    from tweakgui.engine.fit import mosaic

    exposures = ceers[0]
    params = TweakRegParams(**CEERS_PARAMS)  # no abs_refcat: the relative stage is the whole run
    visit = Visit(list(exposures))
    cats, errors = detect_visit(visit, params, cache=None, jobs=1)
    entries = pipeline._RunState(visit, params, cats, errors, set(), 1, None).entries()
    serial, serial_new = align.run_alignment(entries, params, "relative")
    set_aside = []
    real = mosaic._apart_from_reference
    monkeypatch.setattr(mosaic, "_apart_from_reference", lambda *a: set_aside.append(real(*a)) or set_aside[-1])
    if per_job is not None:
        monkeypatch.setattr(mosaic, "MIN_GROUPS_PER_JOB", per_job)
    fits, new = mosaic.align_in_processes(entries, params, "relative", None, jobs=2)
    assert len(set_aside[0]) >= 10  # much of the mosaic is far from its first detector
    assert any(f.status == STATUS_SUCCESS for f in fits)  # and some of it overlaps
    assert [(f.group_id, f.status, f.reason, f.images) for f in fits] == \
        [(f.group_id, f.status, f.reason, f.images) for f in serial]
    for w, ws in zip(new, serial_new):
        assert _distance_mas(w, ws) < 1e-3


def test_chunk_pickled_one_object_at_a_time_keeps_what_the_objects_share(monkeypatch):
    """A chunk for a forkserver worker is pickled one object per call (a thread waiting for the GIL
    gets it between them) into one stream: objects the entries share (a detector's distortion, an
    exposure's chips) come back shared, and once."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    from tweakgui.engine.processes import pickled_in_turns, unpickled_in_turns

    shared = np.arange(10000.0)
    entries = [{"i": i, "distortion": shared, "own": np.full(3, i)} for i in range(5)]
    calls = []
    real_dump = ForkingPickler.dump

    class Counting(ForkingPickler):
        def dump(self, obj):
            calls.append(obj)
            return real_dump(self, obj)

    monkeypatch.setattr("multiprocessing.reduction.ForkingPickler", Counting)
    data = pickled_in_turns(iter([*entries, "refcat", None]))
    assert calls == [*entries, "refcat", None]  # one call each, in order
    *back, refcat, anchor = unpickled_in_turns(data)
    assert (refcat, anchor) == ("refcat", None)
    assert [b["i"] for b in back] == list(range(5))
    assert all(b["distortion"] is back[0]["distortion"] for b in back)
    np.testing.assert_array_equal(back[3]["own"], [3, 3, 3])
    assert len(data) < len(pickle.dumps(shared)) + 5 * 1000  # the shared array written once
