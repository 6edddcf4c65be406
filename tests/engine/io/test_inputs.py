"""Input specs: files, wildcards, comma lists, @lists, ASN json; catfiles and custom catalogs."""

import json

import numpy as np
import pytest
from astropy.table import Table

from tweakgui.engine import pipeline
from tweakgui.engine.detect.custom import parse_catfile, read_custom_catalog
from tweakgui.engine.io.inputs import expand_inputs, output_root, read_asn
from tweakgui.engine.model import InputError
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.refcat.files import read_refcat
from tweakgui.engine.synthetic import make_demo_visit
from tweakgui.engine.visit import load_visit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("inp"), n_images=3, shape=(256, 256), seed=2)


@pytest.mark.parametrize("name,root", [
    ("j94f05bgq_flt.fits", "j94f05bgq"), ("jw01345001001_02201_00001_nrca1_cal.fits",
                                          "jw01345001001_02201_00001_nrca1"),
    ("x_flc.fits", "x"), ("x_rate.fits", "x"), ("plain.fits", "plain"), ("a_cal_b.fits", "a_cal_b"),
])
def test_output_root(name, root):
    assert output_root(name) == root


def test_specs_expand_in_order(demo):
    d = demo.paths[0].parent
    names = lambda items: [i.path.name for i in items]  # noqa: E731
    assert names(expand_inputs([f"@{demo.list_file}"])) == [p.name for p in demo.paths]
    assert names(expand_inputs([f"{demo.paths[2]},{demo.paths[0]}"])) == ["demo03_flt.fits", "demo01_flt.fits"]
    assert names(expand_inputs([str(d / "demo0*_flt.fits")])) == [p.name for p in demo.paths]
    with pytest.raises(InputError, match="more than once"):
        expand_inputs([str(demo.paths[0]), str(demo.paths[0])])


def test_asn_members_group_and_catalog(demo, tmp_path):
    d = demo.paths[0].parent
    cat = Table({"xcentroid": [1.0, 2.0], "ycentroid": [3.0, 4.0]})
    cat.write(d / "c1.ecsv", overwrite=True)
    asn = {"asn_type": "image3", "products": [{"name": "p", "members": [
        {"expname": demo.paths[0].name, "exptype": "science", "group_id": "g1", "tweakreg_catalog": "c1.ecsv"},
        {"expname": demo.paths[1].name, "exptype": "science", "group_id": "g1"},
        {"expname": demo.paths[2].name, "exptype": "background"},
    ]}]}
    (d / "asn.json").write_text(json.dumps(asn))
    items = read_asn(d / "asn.json")
    assert [i.path.name for i in items] == [demo.paths[0].name, demo.paths[1].name]
    assert items[0].group_id == "g1" and items[0].catalog.name == "c1.ecsv" and items[1].catalog is None
    visit = load_visit([str(d / "asn.json")], TweakRegParams(use_custom_catalogs=True))
    assert [e.group_id for e in visit.exposures] == ["g1", "g1"]
    assert visit.exposures[0].chips[0].catalog_path.name == "c1.ecsv"


def test_real_asn_from_ceers(shared_data):
    items = read_asn(shared_data / "ceers-nircam" / "batch_scripts" / "nircam1" / "nircam1_f115w_final.json")
    assert len(items) > 10 and all(i.path.name.endswith(".fits") for i in items)


def test_catfile_wins_over_asn_and_custom_catalogs_are_used(demo):
    d = demo.paths[0].parent
    params = TweakRegParams(abs_refcat=str(demo.refcat), abs_mode="group")
    first = pipeline.run(load_visit([str(demo.paths[0])], params), params)
    first.images[0].catalogs[0]["x", "y"].write(d / "mine.ecsv", overwrite=True)
    (d / "catfile.txt").write_text(f"# image catalog\n{demo.paths[0].name} mine.ecsv\n{demo.paths[1].name}\n")
    table = parse_catfile(d / "catfile.txt")
    assert table[demo.paths[0].name][0].name == "mine.ecsv" and table[demo.paths[1].name] == []
    p2 = params.replace(use_custom_catalogs=True, catfile=str(d / "catfile.txt"))
    visit = load_visit([str(demo.paths[0]), str(demo.paths[1])], p2)
    assert visit.exposures[0].chips[0].catalog_path.name == "mine.ecsv"
    assert visit.exposures[1].chips[0].catalog_path is None  # empty entry: detect
    result = pipeline.run(visit, p2)
    assert len(result.images[0].catalogs[0]) == len(first.images[0].catalogs[0])
    assert result.images[0].status == "SUCCESS"
    assert result.images[0].fit.nmatch == first.images[0].fit.nmatch


def test_custom_catalog_columns(tmp_path):
    Table({"X": [1.0, np.nan], "Y": [2.0, 3.0], "weight": [1.0, 2.0]}).write(tmp_path / "a.ecsv")
    t = read_custom_catalog(tmp_path / "a.ecsv")
    assert list(t["x"]) == [1.0] and "weight" in t.colnames
    Table({"a": [1.0], "b": [2.0]}).write(tmp_path / "b.ecsv")
    with pytest.raises(InputError, match="no x/y"):
        read_custom_catalog(tmp_path / "b.ecsv")


def test_refcat_columns_any_case_and_sky_centroid(tmp_path):
    from astropy.coordinates import SkyCoord

    Table({"ra": [10.0], "DeC": [20.0]}).write(tmp_path / "a.ecsv")
    t = read_refcat(tmp_path / "a.ecsv")
    assert t["RA"][0] == 10.0 and t["DEC"][0] == 20.0
    Table({"sky_centroid": SkyCoord([1.0], [2.0], unit="deg")}).write(tmp_path / "b.ecsv")
    t = read_refcat(tmp_path / "b.ecsv")
    assert t["RA"][0] == pytest.approx(1.0) and t["DEC"][0] == pytest.approx(2.0)
    Table({"x": [1.0]}).write(tmp_path / "c.ecsv")
    with pytest.raises(InputError, match="no RA/DEC"):
        read_refcat(tmp_path / "c.ecsv")


def test_real_catalogs(shared_data):
    t = read_refcat(shared_data / "ceers-nircam" / "tweakreg" / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv")
    assert len(t) == 40408 and 214.5 < np.median(t["RA"]) < 215.4
    t = read_refcat(shared_data / "astropy-data" / "spitzer_example_catalog.xml")
    assert len(t) == 224
    t = read_custom_catalog(shared_data / "jwst-tweakreg-tests" / "wfc3_uvis1.ecsv")
    assert len(t) == 1000


def test_gwcs_asdf_file_is_an_input(shared_data):
    path = (shared_data / "ceers-nircam" / "batch_scripts" / "tweakreg_wcs"
            / "jw01345001001_02201_00001_nrca1_tweakreg.asdf")
    visit = load_visit([str(path)], TweakRegParams())
    e = visit.exposures[0]
    assert e.kind == "jwst" and len(e.chips) == 1
    assert e.group_id == "jw01345001001_02201_00001"
    ra, dec = e.chips[0].wcs(1024, 1024)
    assert 214.5 < ra < 215.4 and 52.6 < dec < 53.2
