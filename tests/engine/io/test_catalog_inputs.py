"""Catalog inputs (catalog-only alignment): where the WCS and the image size come from, chips, refusals.

Every catalog is written by ``make_catalog_visit`` from a known *true* WCS and
carries that WCS perturbed by a known shift and rotation; the run must undo the
perturbation to well under 1 mas, with the correction the opposite of what
was injected.
"""

import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from tweakgui.engine import pipeline
from tweakgui.engine.io.catalogs import (
    catalog_root,
    is_fits_catalog,
    read_catalog_exposure,
    sidecar_candidates,
)
from tweakgui.engine.model import STATUS_SUCCESS, InputError
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_catalog_visit, make_sip_wcs, wcs_error_mas
from tweakgui.engine.visit import load_visit

SHAPE = (512, 512)


@pytest.fixture(scope="module")
def visits(tmp_path_factory):
    """One small catalog-only visit per place the WCS can be kept, and a two-chip one."""
    d = tmp_path_factory.mktemp("catvisits")
    out = {w: make_catalog_visit(d / w, n_catalogs=3, shape=SHAPE, seed=4, wcs_in=w)
           for w in ("meta", "keywords", "hdr", "fits", "fits_table")}
    out["two_chips"] = make_catalog_visit(d / "two", n_catalogs=3, shape=SHAPE, n_chips=2, seed=5)
    out["two_chips_fits"] = make_catalog_visit(d / "twofits", n_catalogs=2, shape=SHAPE, n_chips=2, seed=6,
                                               wcs_in="fits")
    return out


def _check_against_truth(result, demo, tol_mas=1.0):
    for r in result.images:
        name = r.exposure.name
        assert r.status == STATUS_SUCCESS, (name, r.reason)
        for chip, w, truth in zip(r.exposure.chips, r.new_wcs, demo.truth[name]):
            assert wcs_error_mas(chip.wcs, truth, chip.shape) > 50  # the catalog's WCS started off
            assert wcs_error_mas(w, truth, chip.shape) < tol_mas, (name, chip.name)
        # the correction undoes the injected error: opposite shift and rotation
        dx, dy, rot = demo.injected[name]
        c = r.correction
        assert c.shift_arcsec == pytest.approx((-dx, -dy), abs=0.003)
        assert c.rotation_deg == pytest.approx(-rot, abs=2e-3)  # fit noise ~1e-3 deg on a 20" chip


@pytest.mark.parametrize("where", ["meta", "keywords", "hdr", "fits", "fits_table", "two_chips",
                                   "two_chips_fits"])
def test_aligned_to_the_truth(visits, where):
    demo = visits[where]
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    visit = load_visit([], params, catalogs=[str(p) for p in demo.paths])
    for e in visit.exposures:
        assert not e.has_pixels and e.meta["catalog_input"] and e.kind == "fits"
        assert all(c.shape == SHAPE for c in e.chips)
    result = pipeline.run(visit, params, jobs=1, cache=None)
    _check_against_truth(result, demo)
    # each chip its own sources: those of the catalog's rows for it (the 'chip' column when two)
    for r, path in zip(result.images, demo.paths):
        t = Table.read(path)
        chips = [np.ones(len(t), bool)] if "chip" not in t.colnames else [t["chip"] == 1, t["chip"] == 2]
        assert len(r.catalogs) == len(r.exposure.chips) == len(chips)
        for cat, rows in zip(r.catalogs, chips):
            assert np.array_equal(cat["x"], t["x"][rows]) and len(cat) > 30


def test_where_the_wcs_came_from(visits):
    expect = {"meta": "metadata 'wcs'", "keywords": "metadata keywords", "hdr": "sidecar demo01_cat.hdr",
              "fits": "sidecar demo01_cat.fits", "fits_table": "metadata keywords"}
    for where, text in expect.items():
        e = read_catalog_exposure(visits[where].paths[0])
        assert e.meta["wcs_source"] == text
        assert e.root == "demo01" and e.group_id == "demo01"
    two = read_catalog_exposure(visits["two_chips"].paths[0])
    assert [c.name for c in two.chips] == ["SCI,1", "SCI,2"]
    assert [c.meta["catalog_select"] for c in two.chips] == [("chip", 1), ("chip", 2)]


def test_names_recognised_as_catalogs(visits, tmp_path):
    # plain inputs ending .ecsv, and FITS tables, are catalog inputs without --catalogs
    params = TweakRegParams()
    v = load_visit([str(visits["meta"].paths[0]), str(visits["fits_table"].paths[1])], params)
    assert [e.meta.get("catalog_input") for e in v.exposures] == [True, True]
    assert is_fits_catalog(visits["fits_table"].paths[1])
    assert not is_fits_catalog(visits["fits"].paths[0].with_suffix(".fits"))  # headers only, no table
    Table({"ra": [1.0], "dec": [2.0]}).write(tmp_path / "radec.fits")
    assert not is_fits_catalog(tmp_path / "radec.fits")  # a table, but not of pixel positions
    assert catalog_root("j94f05bgq_flt_cat.ecsv") == "j94f05bgq"
    assert catalog_root("jw01345001001_02201_00001_nrca1_cal_cat.ecsv", jwst=True) == \
        "jw01345001001_02201_00001_nrca1"
    assert [p.name for p in sidecar_candidates("a/x_cat.ecsv")][:3] == ["x_cat.hdr", "x_cat.wcs", "x_cat_wcs.fits"]


def test_explicit_wcs_wins_and_metadata_before_sidecar(visits, tmp_path):
    demo = visits["meta"]
    t = Table.read(demo.paths[0])
    hdr = fits.Header(t.meta["wcs"])
    # a sidecar with a WCS 10" off: the catalog's own metadata is used, not it
    far = hdr.copy()
    far["CRVAL2"] += 10 / 3600
    t.write(tmp_path / "a_cat.ecsv")
    far.totextfile(tmp_path / "a_cat.hdr")
    e = read_catalog_exposure(tmp_path / "a_cat.ecsv")
    assert e.meta["wcs_source"] == "metadata 'wcs'"
    assert e.chips[0].wcs.wcs.crval[1] == pytest.approx(hdr["CRVAL2"])
    # paired explicitly (--wcs), the far header wins over the metadata
    e = read_catalog_exposure(tmp_path / "a_cat.ecsv", wcs_path=tmp_path / "a_cat.hdr")
    assert e.meta["wcs_source"] == "--wcs a_cat.hdr" and e.meta["wcs_file"] == str(tmp_path / "a_cat.hdr")
    assert e.chips[0].wcs.wcs.crval[1] == pytest.approx(far["CRVAL2"])
    v = load_visit([], TweakRegParams(), catalogs=[str(tmp_path / "a_cat.ecsv")],
                   wcs=[str(tmp_path / "a_cat.hdr")])
    assert v.exposures[0].chips[0].wcs.wcs.crval[1] == pytest.approx(far["CRVAL2"])


def _cat(path, meta=None, xy=True, n=20, chip=None):
    rng = np.random.default_rng(0)
    t = Table({"x" if xy else "ra": rng.uniform(0, 300, n), "y" if xy else "dec": rng.uniform(0, 200, n)})
    if chip is not None:
        t["chip"] = chip
    t.meta.update(meta or {})
    t.write(path, overwrite=True)
    return path


def _cards(naxis=True):
    w = make_sip_wcs((400, 500), (150.0, 2.0), 0.05)
    h = w.to_header(relax=True)
    if naxis:
        h["NAXIS1"], h["NAXIS2"] = 500, 400
    return {k: v for k, v in h.items()}


def test_image_size_rules(tmp_path, caplog):
    # NAXIS1/2 of the header; else NPIX1/2; else meta 'shape' (ny, nx); else the sources' extent
    e = read_catalog_exposure(_cat(tmp_path / "a.ecsv", {"wcs": _cards()}))
    assert e.chips[0].shape == (400, 500) and e.chips[0].wcs.pixel_shape == (500, 400)
    cards = _cards(naxis=False)
    cards.update(NPIX1=320, NPIX2=240)
    assert read_catalog_exposure(_cat(tmp_path / "b.ecsv", {"wcs": cards})).chips[0].shape == (240, 320)
    e = read_catalog_exposure(_cat(tmp_path / "c.ecsv", {"wcs": _cards(naxis=False), "shape": [210, 310]}))
    assert e.chips[0].shape == (210, 310)
    with caplog.at_level(logging.WARNING):
        e = read_catalog_exposure(_cat(tmp_path / "d.ecsv", {"wcs": _cards(naxis=False)}))
    t = Table.read(tmp_path / "d.ecsv")
    assert e.chips[0].shape == (int(np.ceil(t["y"].max() + 1)), int(np.ceil(t["x"].max() + 1)))
    assert "using the extent of its sources" in caplog.text
    with pytest.raises(InputError, match="'shape' must be the image size"):
        read_catalog_exposure(_cat(tmp_path / "e.ecsv", {"wcs": _cards(naxis=False), "shape": "big"}))


def test_group_id_from_the_metadata(tmp_path):
    e = read_catalog_exposure(_cat(tmp_path / "a_cat.ecsv", {"wcs": _cards(), "group_id": "visit7"}))
    assert e.group_id == "visit7" and e.meta["group_source"] == "catalog metadata"
    v = load_visit([], TweakRegParams(), catalogs=[str(tmp_path / "a_cat.ecsv")])
    assert v.exposures[0].group_id == "visit7"


@pytest.mark.parametrize("case,match", [
    ("no_wcs", r"a\.ecsv: no WCS for this catalog: none in its metadata .* and no sidecar file "
               r"\(a\.hdr, a\.fits, a\.asdf, \.\.\.\); pair one with --wcs FILE"),
    ("no_xy", r"a\.ecsv: catalog has no x/y \(or xcentroid/ycentroid\) columns"),
    ("two_chips_one_wcs", r"a\.ecsv: column 'chip' puts sources on chips \[1, 2\] but the WCS describes one"),
    ("chips_without_column", r"a\.ecsv: the WCS describes 2 chips \(SCI,1, SCI,2\) but the catalog has no "
                             r"'chip'"),
    ("stray_chip", r"a\.ecsv: column 'chip' puts sources on chips \[3\] that the WCS does not describe"),
    ("bad_cards", r"a\.ecsv: metadata 'wcs' must be FITS cards"),
    ("no_ctype", r"a\.ecsv: metadata 'wcs' has no CTYPE1/CRVAL1 cards"),
    ("singular", r"a\.ecsv\[SCI,1\] \(WCS from metadata 'wcs'\): invalid WCS: the CD matrix is singular"),
    ("not_celestial", r"a\.ecsv\[SCI,1\] \(WCS from metadata 'wcs'\): no celestial WCS"),
    ("missing_gwcs", r"nope\.asdf: GWCS file of catalog a\.ecsv not found"),
])
def test_refusals_name_the_file_and_the_cause(tmp_path, case, match):
    path = tmp_path / "a.ecsv"
    two = [dict(_cards(), EXTVER=1), dict(_cards(), EXTVER=2)]
    chips = np.repeat([1, 2], 10)
    if case == "no_wcs":
        _cat(path)
    elif case == "no_xy":
        _cat(path, {"wcs": _cards()}, xy=False)
    elif case == "two_chips_one_wcs":
        _cat(path, {"wcs": _cards()}, chip=chips)
    elif case == "chips_without_column":
        _cat(path, {"wcs": two})
    elif case == "stray_chip":
        _cat(path, {"wcs": two}, chip=np.repeat([1, 3], 10))
    elif case == "bad_cards":
        _cat(path, {"wcs": 42})
    elif case == "no_ctype":
        _cat(path, {"wcs": {"CRVAL1": 1.0}})
    elif case == "singular":
        _cat(path, {"wcs": dict(_cards(), CD1_1=0.0, CD1_2=0.0, CD2_1=0.0, CD2_2=0.0)})
    elif case == "not_celestial":
        _cat(path, {"wcs": dict(_cards(), CTYPE1="LINEAR", CTYPE2="LINEAR")})
    elif case == "missing_gwcs":
        _cat(path, {"gwcs": "nope.asdf"})
    with pytest.raises(InputError, match=match) as info:
        load_visit([], TweakRegParams(), catalogs=[str(path)])
    assert "\n" not in str(info.value)


def test_wcs_pairing_needs_one_file_per_catalog(visits):
    demo = visits["hdr"]
    hdrs = [str(p.with_suffix(".hdr")) for p in demo.paths]
    with pytest.raises(InputError, match=r"--wcs names 2 files for 3 catalogs of --catalogs"):
        load_visit([], TweakRegParams(), catalogs=[",".join(map(str, demo.paths))], wcs=hdrs[:2])
    with pytest.raises(InputError, match=r"--wcs nope\.hdr: file not found"):
        load_visit([], TweakRegParams(), catalogs=[str(demo.paths[0])], wcs=["nope.hdr"])
    v = load_visit([], TweakRegParams(), catalogs=[",".join(map(str, demo.paths))], wcs=[",".join(hdrs)])
    assert [e.meta["wcs_source"] for e in v.exposures] == [f"--wcs {p.stem}.hdr" for p in demo.paths]


def test_catfile_leaves_catalog_inputs_alone(visits, tmp_path):
    demo = visits["meta"]
    (tmp_path / "other.ecsv").write_text("x y\n1 2\n")
    catfile = tmp_path / "catfile.txt"
    catfile.write_text(f"{demo.paths[0].name} {tmp_path / 'other.ecsv'}\n")
    v = load_visit([], TweakRegParams(use_custom_catalogs=True, catfile=str(catfile)),
                   catalogs=[str(demo.paths[0])])
    assert v.exposures[0].chips[0].catalog_path == demo.paths[0]


def test_one_file_per_chip_grouped_by_metadata(visits, tmp_path):
    """Each chip's sources in a file of its own; a shared ``group_id`` gives them one correction."""
    demo = visits["two_chips"]
    files = []
    for path in demo.paths:
        t = Table.read(path)
        for k in (1, 2):
            part = t[t["chip"] == k]
            part.remove_column("chip")
            part.meta = {"wcs": t.meta["wcs"][k - 1], "group_id": path.name.removesuffix("_cat.ecsv")}
            files.append(tmp_path / path.name.replace("_cat", f"_sci{k}_cat"))
            part.write(files[-1])
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    visit = load_visit([], params, catalogs=[str(f) for f in files])
    assert [e.group_id for e in visit.exposures] == ["demo01", "demo01", "demo02", "demo02", "demo03", "demo03"]
    assert [e.chips[0].name for e in visit.exposures] == ["SCI,1", "SCI,2"] * 3
    result = pipeline.run(visit, params, jobs=1, cache=None)
    for r in result.images:
        assert r.status == STATUS_SUCCESS, r.reason
        k = int(r.exposure.chips[0].name[-1])  # SCI,k from the EXTVER of its cards
        truth = demo.truth[r.exposure.name.replace(f"_sci{k}", "")][k - 1]
        assert wcs_error_mas(r.new_wcs[0], truth, SHAPE) < 1.0
    # one correction per group: both chips of an exposure moved alike
    by = {r.exposure.name: r.correction for r in result.images}
    assert by["demo01_sci1_cat.ecsv"].rotation_deg == pytest.approx(by["demo01_sci2_cat.ecsv"].rotation_deg,
                                                                    abs=1e-9)
