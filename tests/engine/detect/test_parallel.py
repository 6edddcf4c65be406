"""Parallel detection: same catalogs as the serial path, input order, progress, cancel, Dask.

Accuracy is checked against the synthetic visits' true WCS (mas).
"""

import multiprocessing as mp
import os
import threading

import numpy as np
import pytest
from astropy.io import fits

from tweakgui.engine import pipeline, processes
from tweakgui.engine.detect.visit import detect_visit
from tweakgui.engine.model import STATUS_SUCCESS, Cancelled, InputError
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas
from tweakgui.engine.visit import load_visit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("par"), n_images=5, shape=(512, 512), seed=21)


@pytest.fixture(scope="module")
def serial(demo):
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    cats, errors = detect_visit(visit, params, jobs=1, cache=None)
    assert errors == [None] * 5
    return cats


def _same(a, b):
    """Catalogs per exposure and chip identical (not merely close)."""
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb)
        for ca, cb in zip(ea, eb):
            assert len(ca) == len(cb) > 50
            for c in ("x", "y", "flux"):
                assert np.array_equal(np.asarray(ca[c]), np.asarray(cb[c]))


def test_meanwhile_runs_once_while_the_workers_detect(demo, serial):
    """The caller's own work (the pipeline imports the fit stage) overlaps the workers'."""
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    calls = []

    def meanwhile():
        calls.append(len(mp.active_children()))

    cats, errors = detect_visit(visit, params, jobs=2, cache=None, meanwhile=meanwhile)
    assert errors == [None] * 5
    _same(cats, serial)
    assert calls == [2]  # once, with both workers started
    calls.clear()
    detect_visit(visit, params, jobs=1, cache=None, meanwhile=meanwhile)
    assert calls == [0]  # the serial path: once, after the detection


def test_pipeline_imports_the_fit_stage_only_after_starting_detection():
    """``import tweakgui.engine.pipeline`` leaves scipy.spatial, tweakwcs and gwcs to the run."""
    import subprocess
    import sys

    code = ("import sys, tweakgui.engine.pipeline, tweakgui.engine.outputs.save, tweakgui.cli; "
            "print(sorted(m for m in ('tweakwcs', 'gwcs', 'scipy.spatial', 'tweakgui.engine.fit') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_sky_exclusions_reach_the_workers(demo, tmp_path):
    """Workers get a chip's WCS when its exclusion regions are in sky coordinates (and only then)."""
    from astropy.wcs import WCS

    from tweakgui.engine.detect.parallel import for_detection

    with fits.open(demo.paths[0]) as h:
        ra, dec = WCS(h["SCI", 1].header, h).all_pix2world([[256.0, 256.0]], 0)[0]
    reg = tmp_path / "sky.reg"
    reg.write_text(f"fk5\n-circle({ra},{dec},3\")\n")
    excl = tmp_path / "excl.txt"
    excl.write_text(f"{demo.paths[0].name} {reg}\n")
    params = TweakRegParams(exclusions=str(excl))
    visit = load_visit([str(p) for p in demo.paths], params)
    assert visit.exposures[0].chips[0].meta.get("exclusion")
    light = [for_detection(e) for e in visit.exposures]
    assert light[0].chips[0].wcs is not None and all(e.chips[0].wcs is None for e in light[1:])
    pooled, _ = detect_visit(visit, params, jobs=2, cache=None)
    alone, _ = detect_visit(visit, params, jobs=1, cache=None)
    _same(pooled, alone)
    full, _ = detect_visit(load_visit([str(demo.paths[0])], TweakRegParams()), TweakRegParams(), jobs=1, cache=None)
    assert len(pooled[0][0]) < len(full[0][0])  # the region removed sources


def test_pool_gives_the_serial_catalogs_in_input_order(demo, serial):
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    events = []
    cats, errors = detect_visit(visit, params, jobs=2, cache=None,
                                         progress=lambda *a: events.append(a))
    assert errors == [None] * 5
    _same(cats, serial)
    # one report per image and a final one; 'done' never decreases
    assert len(events) == 6 and events[-1] == ("detect", 5, 5, "done")
    done = [e[1] for e in events]
    assert done == sorted(done) and done[0] == 0
    assert not mp.active_children()


def test_order_kept_when_the_first_image_is_the_slowest(tmp_path, demo, serial):
    big = make_demo_visit(tmp_path / "big", n_images=1, shape=(1536, 1536), seed=22)
    params = TweakRegParams()
    paths = [str(big.paths[0])] + [str(p) for p in demo.paths]
    visit = load_visit(paths, params)
    cats, errors = detect_visit(visit, params, jobs=2, cache=None)
    assert errors == [None] * 6
    ref_big, _ = detect_visit(load_visit(paths[:1], params), params, jobs=1, cache=None)
    _same(cats[:1], ref_big)
    _same(cats[1:], serial)


def test_parallel_alignment_accuracy(demo):
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    visit = load_visit([str(p) for p in demo.paths], params)
    result = pipeline.run(visit, params, jobs=2, cache=None)
    assert [r.status for r in result.images] == [STATUS_SUCCESS] * 5
    for r in result.images:
        err = wcs_error_mas(r.new_wcs[0], demo.truth[r.exposure.name][0], r.exposure.chips[0].shape)
        assert err < 2.0, (r.exposure.name, err)  # mas; injected errors up to 600 mas


def test_one_bad_image_fails_alone(tmp_path, demo, serial):
    bad = tmp_path / "blank_flt.fits"
    with fits.open(demo.paths[0]) as h:
        h["SCI"].data = np.full(h["SCI"].data.shape, np.nan, np.float32)
        h.writeto(bad)
    params = TweakRegParams()
    visit = load_visit([str(demo.paths[1]), str(bad), str(demo.paths[2])], params)
    cats, errors = detect_visit(visit, params, jobs=2, cache=None)
    assert errors[0] is None and errors[2] is None
    assert "no valid pixels" in errors[1]
    _same([cats[0], cats[2]], [serial[1], serial[2]])


def test_cancel_stops_submitting_and_ends_the_workers(demo):
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths] * 1, params)
    ev = threading.Event()
    events = []

    def progress(stage, done, total, msg):
        events.append(done)
        ev.set()  # cancel at the first report

    with pytest.raises(Cancelled):
        detect_visit(visit, params, progress=progress, cancel=ev, jobs=2, cache=None)
    assert events == [0]
    assert not mp.active_children()


def test_jobs_must_be_positive(demo):
    params = TweakRegParams()
    visit = load_visit([str(demo.paths[0])], params)
    with pytest.raises(InputError, match="jobs"):
        detect_visit(visit, params, jobs=0, cache=None)


def test_default_jobs_is_the_core_count():
    assert processes.default_jobs() >= 1


def _distributed():
    """dask.distributed, in the test extra: skipped where absent, a failure under CI=true."""
    try:
        import distributed

    except ImportError as e:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI=true: dask.distributed is missing ({e})")
        pytest.skip(f"could not import 'distributed': {e}")
    return distributed


@pytest.fixture(scope="module")
def loopback_cluster():
    distributed = _distributed()
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       protocol="tcp", host="127.0.0.1", dashboard_address=None)
    yield cluster
    cluster.close()


def test_dask_address_gives_the_local_catalogs(demo, serial, loopback_cluster):
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    addr = loopback_cluster.scheduler_address
    assert addr.startswith("tcp://127.0.0.1:")
    events = []
    cats, errors = detect_visit(visit, params, scheduler=addr, cache=None,
                                         progress=lambda *a: events.append(a))
    assert errors == [None] * 5
    _same(cats, serial)
    assert events[-1] == ("detect", 5, 5, "done") and len(events) == 6


def test_dask_client_alignment(demo, loopback_cluster):
    from distributed import Client

    params = TweakRegParams(abs_refcat=str(demo.refcat))
    visit = load_visit([str(p) for p in demo.paths], params)
    with Client(loopback_cluster) as client:
        result = pipeline.run(visit, params, scheduler=client, cache=None)
        assert client.status == "running"  # a client handed in is left open
    assert result.n_failed == 0
    for r in result.images:
        assert wcs_error_mas(r.new_wcs[0], demo.truth[r.exposure.name][0], (512, 512)) < 2.0


def test_unreachable_scheduler_is_an_input_error(demo):
    _distributed()
    params = TweakRegParams()
    visit = load_visit([str(demo.paths[0])], params)
    with pytest.raises(InputError, match="scheduler: cannot connect"):
        detect_visit(visit, params, scheduler="tcp://127.0.0.1:9", cache=None)


@pytest.mark.slow
def test_many_groups_fitted_in_processes_give_the_one_process_result(tmp_path, caplog):
    """40 groups: relative (to the first) and absolute fits in 2 processes equal those of one."""
    import logging

    caplog.set_level(logging.INFO, logger="tweakgui.engine.fit.mosaic")
    demo = make_demo_visit(tmp_path, n_images=40, shape=(384, 384), seed=41, n_stars=150)
    params = TweakRegParams(abs_refcat=str(demo.refcat), abs_mode="group")
    paths = [str(p) for p in demo.paths]
    one = pipeline.run(load_visit(paths, params), params, jobs=1)
    two = pipeline.run(load_visit(paths, params), params, jobs=2)
    assert caplog.text.count("groups in 2 processes") == 2  # relative and absolute
    assert [r.status for r in two.images] == [r.status for r in one.images] == [STATUS_SUCCESS] * 40
    for a, b in zip(one.images, two.images):
        assert [f.kind for f in a.fits] == [f.kind for f in b.fits] == ["relative", "absolute"]
        assert wcs_error_mas(a.new_wcs[0], b.new_wcs[0], (384, 384)) < 1e-3  # mas
        assert wcs_error_mas(b.new_wcs[0], demo.truth[b.exposure.name][0], (384, 384)) < 3.0


def test_from_a_worker_thread_after_warm_up(demo, serial):
    """The GUI's case: detection from a thread (forkserver workers), after processes.warm_up()."""
    t = processes.warm_up()
    if t is not None:
        t.join(60)
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    out = {}
    th = threading.Thread(target=lambda: out.update(
        r=detect_visit(visit, params, jobs=2, cache=None)))
    th.start()
    th.join(120)
    cats, errors = out["r"]
    assert errors == [None] * 5
    _same(cats, serial)
