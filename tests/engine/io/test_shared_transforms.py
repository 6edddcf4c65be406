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
    monkeypatch.setattr(st, "_alone", lambda: True)  # pytest's own threads aside
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
