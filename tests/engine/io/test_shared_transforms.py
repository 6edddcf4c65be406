"""GWCS files read with shared transforms are the GWCS asdf gives, and share each distortion once.

Four of CEERS' published NIRCam GWCS: nrca1 and nrcb1 of two exposures of
one filter.  The detector -> V2/V3 step of one detector is one object in
both exposures; every evaluation, frame, bounding box and wcsinfo value is
that of the usual reading.
"""

import asdf
import numpy as np
import pytest

import ceers_render as cr
from tweakgui.engine.io.jwst import read_wcs_exposure, read_wcs_file
from tweakgui.engine.model import InputError

pytestmark = pytest.mark.realdata

FILES = [("jw01345001001_02201_00001", "nrca1"), ("jw01345001001_02201_00002", "nrca1"),
         ("jw01345001001_02201_00001", "nrcb1"), ("jw01345001001_02201_00002", "nrcb1")]


@pytest.fixture(scope="module")
def paths(shared_data):
    return [cr.wcs_file(name, det, shared_data / "ceers-nircam") for name, det in FILES]


def test_same_gwcs_as_asdf_gives(paths):
    shared = {}
    y, x = np.mgrid[-0.5:2047.5:9j, -0.5:2047.5:9j]
    for p in paths:
        plain, plain_info = read_wcs_file(p)
        fast, fast_info = read_wcs_file(p, shared)
        assert fast.available_frames == plain.available_frames and fast.name == plain.name
        assert fast.bounding_box == plain.bounding_box
        np.testing.assert_array_equal(np.array(fast(x, y)), np.array(plain(x, y)))
        ra, dec = plain(x.ravel()[:20] + 0.25, y.ravel()[:20] + 0.25)
        np.testing.assert_array_equal(np.array(fast.invert(ra, dec)), np.array(plain.invert(ra, dec)))
        assert fast_info == plain_info
        assert {k: type(v) for k, v in fast_info.items()} == {k: type(v) for k, v in plain_info.items()}


def test_a_detector_distortion_is_read_once(paths):
    shared = {}
    a1, a1b, b1, b1b = (read_wcs_exposure(p, shared=shared).chips[0].wcs for p in paths)
    assert a1.pipeline[0].transform is a1b.pipeline[0].transform
    assert b1.pipeline[0].transform is b1b.pipeline[0].transform
    assert a1.pipeline[0].transform is not b1.pipeline[0].transform
    assert a1.pipeline[-2].transform is not a1b.pipeline[-2].transform  # each pointing its own


@pytest.mark.parametrize("what", ["broken-yaml", "no-gwcs"])
def test_a_bad_file_is_named(tmp_path, what):
    p = tmp_path / "bad.asdf"
    if what == "broken-yaml":
        p.write_bytes(b"#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nwcs: [1,\n")
    else:
        asdf.AsdfFile({"wcs": 3}).write_to(p)
    with pytest.raises(InputError, match="bad.asdf: not a readable GWCS file"):
        read_wcs_file(p, {})


def test_files_read_in_processes_are_those_read_here_and_share_across_workers(paths, tmp_path, monkeypatch):
    """Each file alone in its batch (two workers), a bad file among them: the parent reads that one."""
    from tweakgui.engine.io import shared_transforms as st

    bad = tmp_path / "bad.asdf"
    bad.write_bytes(b"#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nwcs: [1,\n")
    monkeypatch.setattr(st, "MIN_FILES", 2)
    monkeypatch.setattr(st, "single_threaded", lambda: True)  # pytest's own threads aside
    shared = {}
    assert st.read_in_processes(paths[:1], shared, jobs=2) == 0 and shared == {}  # too few: nothing
    assert st.read_in_processes(paths, shared, jobs=1) == 0 and shared == {}  # one job: nothing
    # 4 jobs for 5 files: one file per batch, the batches spread over the workers
    assert st.read_in_processes([*paths, bad], shared, jobs=4) == 4
    y, x = np.mgrid[-0.5:2047.5:9j, -0.5:2047.5:9j]
    got = [read_wcs_file(p, shared) for p in paths]
    assert not any(k[0] == "file" for k in shared if isinstance(k, tuple))  # each handed out once
    for p, (w, info) in zip(paths, got):
        plain, plain_info = read_wcs_file(p)
        assert info == plain_info and w.available_frames == plain.available_frames
        np.testing.assert_array_equal(np.array(w(x, y)), np.array(plain(x, y)))
    (a1, _), (a1b, _), (b1, _), (b1b, _) = got
    # one object per distinct transform, whichever worker read it
    assert a1.pipeline[0].transform is a1b.pipeline[0].transform
    assert b1.pipeline[0].transform is b1b.pipeline[0].transform
    assert a1.pipeline[0].transform is not b1.pipeline[0].transform
    with pytest.raises(InputError, match="bad.asdf: not a readable GWCS file"):
        read_wcs_file(bad, shared)
    # a file changed since it was read ahead is read again
    st.read_in_processes(paths, shared, jobs=2)
    p = tmp_path / "copy.asdf"
    p.write_bytes(paths[0].read_bytes())
    st.read_in_processes([p, *paths[1:]], shared, jobs=2)
    p.write_bytes(paths[2].read_bytes())  # another detector under the same name
    w, _ = read_wcs_file(p, shared)
    np.testing.assert_array_equal(np.array(w(x, y)), np.array(read_wcs_file(paths[2])[0](x, y)))


def test_a_process_with_other_threads_reads_its_files_itself(paths, monkeypatch):
    """The GUI loads in a thread: unpickling a batch there would hold the GIL the GUI thread needs."""
    import threading

    from tweakgui.engine.io import shared_transforms as st

    monkeypatch.setattr(st, "MIN_FILES", 2)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        shared = {}
        assert st.read_in_processes(paths, shared, jobs=2) == 0 and shared == {}
    finally:
        stop.set()
        t.join()


def test_catalogs_read_in_processes_are_those_read_here(paths, tmp_path, monkeypatch):
    """The ASN's catalogs, read by the GWCS workers meanwhile: the same tables; a bad or changed one is read here."""
    from astropy.table import Table

    from tweakgui.engine.detect import custom
    from tweakgui.engine.io import shared_transforms as st

    monkeypatch.setattr(st, "MIN_FILES", 2)
    monkeypatch.setattr(st, "single_threaded", lambda: True)
    monkeypatch.setattr(custom, "_READ", type(custom._READ)())
    rng = np.random.default_rng(3)
    cats = []
    for k in range(3):
        c = tmp_path / f"c{k}.ecsv"
        Table({"xcentroid": rng.uniform(0, 2048, 50), "ycentroid": rng.uniform(0, 2048, 50),
               "flux": rng.uniform(1, 9, 50)}).write(c)
        cats.append(c)
    bad = tmp_path / "bad.ecsv"
    bad.write_text("a b\n1\n")  # no x/y columns
    read_here = [custom._read_custom_catalog(c, None) for c in cats]
    extra = [(custom.read_catalog_batch, [str(c) for c in cats[:2]], custom.remember_catalogs),
             (custom.read_catalog_batch, [str(cats[2]), str(bad)], custom.remember_catalogs)]
    assert st.read_in_processes(paths, {}, jobs=2, extra=extra) == 4
    assert len(custom._READ) == 3  # the bad one is not kept
    calls, original = [], custom._read_custom_catalog
    monkeypatch.setattr(custom, "_read_custom_catalog", lambda p, s: calls.append(p) or original(p, s))
    for c, t in zip(cats, read_here):
        got = custom.read_custom_catalog(c)
        assert got.colnames == t.colnames and all(np.array_equal(got[k], t[k]) for k in t.colnames)
    assert calls == []  # none read again
    with pytest.raises(InputError, match="bad.ecsv"):
        custom.read_custom_catalog(bad)
    assert calls == [bad]  # the check reads it itself, and says why
    # a catalog rewritten after the workers read it is not taken from them
    monkeypatch.undo()
    monkeypatch.setattr(st, "MIN_FILES", 2)
    monkeypatch.setattr(st, "single_threaded", lambda: True)
    monkeypatch.setattr(custom, "_READ", type(custom._READ)())
    read = custom.read_catalog_batch([str(cats[0])])
    Table({"x": [1.0, 2.0], "y": [3.0, 4.0]}).write(cats[0], overwrite=True)
    assert custom.remember_catalogs(read) == 0
    assert len(custom.read_custom_catalog(cats[0])) == 2


def test_a_known_distortion_is_not_parsed_again(paths, monkeypatch):
    """The second exposure's files of a detector hold its distortion as the same text and blocks: parsed
    with a marker in its place, and the GWCS the same as asdf's (see the test above)."""
    from tweakgui.engine.io import shared_transforms as st

    used = []
    real = st._read_reusing_first_step
    monkeypatch.setattr(st, "_read_reusing_first_step", lambda *a: used.append(a[0]) or real(*a))
    shared = {}
    a1, a1b, b1, b1b = (read_wcs_exposure(p, shared=shared).chips[0].wcs for p in paths)
    assert len(used) == 2  # nrca1 and nrcb1 of the second exposure
    assert a1.pipeline[0].transform is a1b.pipeline[0].transform
    y, x = np.mgrid[-0.5:2047.5:5j, -0.5:2047.5:5j]
    for p, w in zip(paths, (a1, a1b, b1, b1b)):
        plain, _ = read_wcs_file(p)
        np.testing.assert_array_equal(np.array(w(x, y)), np.array(plain(x, y)))
    # the marker has the replaced text's length: the blocks were found where the index says
    data = paths[1].read_bytes()
    text = st._first_step_text(data)
    start, end = text[1]
    assert data[start:end].lstrip().startswith(b"transform:") and b"source: 0" in data[start:end]


_HEAD = b"#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nwcs:\n  steps:\n  - frame: a\n"


@pytest.mark.parametrize("yaml, usable", [
    (b"    transform: !transform/shift-1.2.0 {offset: 1.0}\n  - frame: b\n    transform: null\n", True),
    # an anchor of the first step's transform used after it: its text cannot be left out
    (b"    transform: &id001 !transform/shift-1.2.0 {offset: 1.0}\n  - frame: b\n    transform: *id001\n", False),
    # an alias to something before it
    (b"    transform: *id001\n  - frame: b\n    transform: null\n", False),
])
def test_the_first_steps_text_stands_for_it_only_when_self_contained(yaml, usable):
    from tweakgui.engine.io import shared_transforms as st

    text = st._first_step_text(_HEAD + yaml + b"...\n")
    assert (text is not None) == usable
