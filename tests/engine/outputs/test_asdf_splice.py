"""WCS files of one detector: the distortion's serialisation reused, the bytes asdf's own."""

from __future__ import annotations

import asdf
import ceers_render as cr
import numpy as np
import pytest

from tweakgui.engine.fit.corrector import SharedJWSTCorrector
from tweakgui.engine.io import asdf_text, jwst
from tweakgui.engine.outputs import asdf_splice, prepared
from tweakgui.engine.outputs.jwst import wcs_file_bytes

CEERS = "jw01345001001_02201_00001"


@pytest.fixture()
def fresh(monkeypatch):
    monkeypatch.setattr(asdf_splice, "_parts", {})
    monkeypatch.setattr(asdf_splice, "splice_stats", {"spliced": 0, "whole": 0, "refused": 0})
    with prepared._unvalidated_writes():
        yield asdf_splice.splice_stats


def _corrected(exposure, shift, rot_arcsec):
    chip = exposure.chips[0]
    t = np.radians(rot_arcsec / 3600)
    corr = SharedJWSTCorrector(chip.wcs, chip.meta["wcsinfo"])
    corr.set_correction([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], shift)
    return corr.wcs


def _files(shared_data, dets=("nrca1", "nrcblong"), n=3):
    out = []
    for det in dets:
        e = jwst.read_wcs_exposure(cr.wcs_file(CEERS, det, shared_data / "ceers-nircam"))
        info = dict(e.chips[0].meta["wcsinfo"])
        for k in range(n):
            # the corrected GWCS share the detector's distortion, as a mosaic's do
            out.append((f"{e.root}_{k}", _corrected(e, (0.01 * k, -0.02), 3.0 * k), {**info, "k": k}))
    return out


def test_spliced_files_are_the_bytes_asdf_writes(shared_data, fresh):
    files = _files(shared_data)
    assert files[0][1].pipeline[0].transform is files[2][1].pipeline[0].transform
    made = [asdf_splice.write_sharing_distortion(w, lambda r=r, w=w, i=i: wcs_file_bytes(r, w, i))
            for r, w, i in files]
    assert fresh == {"spliced": 4, "whole": 0, "refused": 0}  # each detector's first file learns
    for (r, w, i), content in zip(files, made):
        whole = wcs_file_bytes(r, w, i)
        assert content == whole
        assert whole.count(b"\xd3BLK") > 8 and b"&id0" in whole  # blocks and anchors after the distortion too
    # the placeholder never stays in a GWCS
    assert all(w.pipeline[0].transform.name != asdf_splice._PLACEHOLDER for _r, w, _i in files)


def test_a_file_the_splice_cannot_reproduce_is_written_by_asdf(shared_data, fresh, monkeypatch):
    files = _files(shared_data, dets=("nrca1",), n=2)
    # a splice that gets one anchor wrong: the first file's comparison catches it
    real = asdf_splice._shifted
    monkeypatch.setattr(asdf_splice, "_shifted", lambda lines, anchors, blocks: real(lines, anchors + 1, blocks))
    made = [asdf_splice.write_sharing_distortion(w, lambda r=r, w=w, i=i: wcs_file_bytes(r, w, i))
            for r, w, i in files]
    assert fresh == {"spliced": 0, "whole": 1, "refused": 1}
    assert made == [wcs_file_bytes(r, w, i) for r, w, i in files]


def test_a_new_distortion_object_is_learned_again(shared_data, fresh, tmp_path):
    (r, w, i), = _files(shared_data, dets=("nrca1",), n=1)
    asdf_splice.write_sharing_distortion(w, lambda: wcs_file_bytes(r, w, i))
    # another distortion object: learned from its first file, not spliced with the first one's
    e = jwst.read_wcs_exposure(cr.wcs_file(CEERS, "nrca2", shared_data / "ceers-nircam"))
    w2 = _corrected(e, (0.0, 0.0), 0.0)
    content = asdf_splice.write_sharing_distortion(w2, lambda: wcs_file_bytes(r, w2, i))
    assert fresh["spliced"] == 0 and content == wcs_file_bytes(r, w2, i)
    (tmp_path / "a.asdf").write_bytes(content)
    y, x = np.mgrid[0:2047:5j, 0:2047:5j]
    with asdf.open(tmp_path / "a.asdf") as af:
        np.testing.assert_array_equal(np.array(af["wcs"](x, y)), np.array(w2(x, y)))


def test_split_refuses_what_is_not_blocks():
    with pytest.raises(ValueError):
        asdf_text.split(b"#ASDF 1.0.0\na: 1\n...\nnot a block")
    f = asdf_text.split(b"#ASDF 1.0.0\na: 1\n...\n")
    assert f.blocks == [] and f.lines[-1] == b"...\n"
