"""tweakreg_fits.ecsv: one row per image and stage, numbers that agree with the report and the truth."""

import json

import numpy as np
from astropy.table import Table

from tweakgui.engine import pipeline
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit
from tweakgui.engine.visit import load_visit


def test_qa_table_rows_per_image_and_stage(tmp_path):
    demo = make_demo_visit(tmp_path / "in", n_images=3, shape=(512, 512), seed=31)
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None)
    pipeline.save_outputs(result, tmp_path / "out", params, kinds=("report",))
    t = Table.read(tmp_path / "out" / "tweakreg_fits.ecsv", format="ascii.ecsv")
    report = json.loads((tmp_path / "out" / "tweakreg_report.json").read_text())
    names = [p.name for p in demo.paths]
    assert list(t["image"]) == [n for n in names for _ in range(3)]
    assert list(t["stage"]) == ["relative", "absolute", "total"] * 3
    assert t["stage"][0] == "relative" and t["status"][0] == "REFERENCE"
    for name, im in zip(names, report["images"]):
        rows = t[t["image"] == name]
        absrow = rows[rows["stage"] == "absolute"][0]
        assert absrow["status"] == "SUCCESS" and absrow["matcher"] == "2dhist"
        assert absrow["significance"] > 8 and absrow["nused"] >= 15 and absrow["false_alarm"] < 1e-6
        assert absrow["refcat"] == "refcat.ecsv"
        assert absrow["nmatch"] == im["nmatch"]
        total = rows[rows["stage"] == "total"][0]
        dx, dy, rot = demo.injected[name]
        # the total correction undoes the injected pointing error
        assert np.hypot(total["shift_x_arcsec"] + dx, total["shift_y_arcsec"] + dy) < 0.003
        # 1.5e-3 deg is 0.27 mas at 256 px from the centre of these small frames
        assert abs(total["rotation_deg"] + rot) < 1.5e-3
        if abs(rot) > 5e-3:
            assert np.sign(total["rotation_deg"]) == -np.sign(rot)
        assert total["shift_x_arcsec"] == im["shift_arcsec"][0]
    assert t["rmse_mas"].unit == "mas"
