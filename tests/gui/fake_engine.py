"""A tiny engine with the real engine's signatures, for GUI tests without detection.

Images are 200×200 TAN WCS chips with 30 sources on a grid; ``run`` returns a
relative fit per non-reference image with hand-made residuals whose excluded
rows are flagged and left out of ``nmatch``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine import model

N_SRC = 30


def make_wcs(crval=(150.0, 2.0), shift_pix=(0.0, 0.0)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [100.5 + shift_pix[0], 100.5 + shift_pix[1]]
    w.wcs.cdelt = [-0.1 / 3600, 0.1 / 3600]
    w.pixel_shape = (200, 200)
    return w


class FakeEngine:
    """Callables with the engine's signatures; records calls and can block or fail."""

    def __init__(self, n_images=3, delay=0.0, fail_with=None):
        self.n_images = n_images
        self.delay = delay  # seconds per stage in run()
        self.stages_done = 0  # stages of run() passed, over all runs
        self.fail_with = fail_with
        self.calls = []
        self.fail_image = None  # name of an image to mark FAILED
        self.gate = threading.Event()
        self.gate.set()
        # detection renumbers the sources on every run (as another finder would)
        self.shuffle = False
        # add an absolute fit of the whole visit (group "visit") after the relative fits
        self.absolute = False
        self.n_detect = 0
        self.corrections = {}  # image name -> model.Correction to report

    def load_visit(self, specs, params):
        self.calls.append(("load_visit", list(specs)))
        exps = []
        for i, s in enumerate(specs):
            p = Path(s)
            if "missing" in p.name:
                raise model.InputError(f"{p}: file not found")
            chip = model.Chip("SCI,1", 1, (200, 200), make_wcs(shift_pix=(i * 0.5, 0)))
            exps.append(model.Exposure(p, "fits", [chip], f"g{i}", p.stem))
        return model.Visit(exps)

    def read_pixels(self, exposure, chip):
        rng = np.random.default_rng(1)
        data = rng.normal(10, 1, chip.shape).astype("f4")
        return data, np.zeros(chip.shape, bool)

    def catalog(self):
        g = np.arange(N_SRC)
        cat = Table({"x": 20.0 + (g % 6) * 30, "y": 20.0 + (g // 6) * 35, "flux": 100.0 + g,
                     "mag": 25.0 - 0.05 * g, "sharpness": 0.5 + 0.01 * g, "roundness": 0.02 * (g % 5)})
        if self.shuffle and self.n_detect > 1:
            cat = cat[np.random.default_rng(self.n_detect).permutation(N_SRC)]
        return cat

    def run(self, visit, params, progress=None, cancel=None, catalogs=None, excluded=None):
        self.calls.append(("run", dict(catalogs=catalogs, excluded=set(excluded or ()),
                                       params=params)))
        excluded = set(excluded or ())
        stages = len(visit.exposures)
        for i, e in enumerate(visit.exposures):
            self.gate.wait(30)
            if cancel is not None and cancel.is_set():
                raise model.Cancelled("cancelled")
            if progress:
                progress("detect", i + 1, stages, e.name)
            if self.delay:
                time.sleep(self.delay)
            self.stages_done += 1
        if cancel is not None and cancel.is_set():
            raise model.Cancelled("cancelled")
        if self.fail_with is not None:
            raise self.fail_with
        images, fits = [], []
        if not catalogs:
            self.n_detect += 1
        for k, e in enumerate(visit.exposures):
            key = (e.name, e.chips[0].name)
            cat = catalogs[key] if catalogs and key in catalogs else self.catalog()
            if k == 0:
                images.append(model.ImageResult(e, model.STATUS_REFERENCE, catalogs=[cat]))
                continue
            if e.name == self.fail_image:
                reason = "not enough matches (< minobj=15); raise searchrad or set x/yoffset"
                f = model.FitResult(e.group_id, "relative", model.STATUS_FAILED, reason=reason)
                fits.append(f)
                images.append(model.ImageResult(e, model.STATUS_FAILED, reason=reason, fits=[f],
                                                catalogs=[cat]))
                continue
            c = e.chips[0]
            rng = np.random.default_rng(k)
            dx = rng.normal(0, 0.01, N_SRC)
            dy = rng.normal(0, 0.01, N_SRC)
            ra, dec = c.wcs.all_pix2world(cat["x"], cat["y"], 0)
            # the tangent plane of this fake is east/north: the reference lies dx, dy away
            ref_ra, ref_dec = ra - dx / 3600 / np.cos(np.deg2rad(dec)), dec - dy / 3600
            exc = np.array([(e.name, c.name, i) in excluded for i in range(N_SRC)])
            used = ~exc
            used[int(np.argmax(cat["flux"]))] = False  # one clipped source, the same star every run
            m = Table({"group_id": [e.group_id] * N_SRC, "image": [e.name] * N_SRC,
                       "chip": [c.name] * N_SRC, "input_idx": np.arange(N_SRC),
                       "ref_idx": np.arange(N_SRC), "x": cat["x"], "y": cat["y"],
                       "ra": ra, "dec": dec, "ref_ra": ref_ra, "ref_dec": ref_dec, "dx": dx, "dy": dy,
                       "used": used, "excluded": exc})
            f = model.FitResult(e.group_id, "relative", model.STATUS_SUCCESS, fitgeom="rshift",
                                nmatch=int(N_SRC - exc.sum()), shift_arcsec=(0.05 * k, -0.02),
                                rmse_arcsec=0.012, matches=m, hist_peak_arcsec=(0.05 * k, -0.02),
                                offsets=np.vstack([rng.uniform(-1.5, 1.5, (200, 2)),
                                                   rng.normal((0.05 * k, -0.02), 0.01, (30, 2))]),
                                images=[e.name])
            fits.append(f)
            images.append(model.ImageResult(e, model.STATUS_SUCCESS, fits=[f],
                                            new_wcs=[make_wcs(shift_pix=(k * 0.5 + 0.5, 0))],
                                            catalogs=[cat]))
        for r in images:
            r.correction = self.corrections.get(r.exposure.name)
        if self.absolute:
            fits.append(self._absolute(visit, images, excluded))
            for r in images:
                if r.status != model.STATUS_FAILED:
                    r.fits.append(fits[-1])
                    r.status = model.STATUS_SUCCESS
        return model.VisitResult(images, fits, params)

    def _absolute(self, visit, images, excluded):
        """One fit of the whole visit against a catalog: every image's sources, with an
        image column, residuals growing with the image's index, a few far outliers."""
        rows = []
        for k, r in enumerate(images):
            e, c, cat = r.exposure, r.exposure.chips[0], r.catalogs[0]
            n = 10 + 5 * k  # images have different numbers of matches
            rng = np.random.default_rng(100 + k)
            for i in range(n):
                out = i == 0  # a far clipped outlier per image
                dx = 3.0 if out else rng.normal(0, 0.002 * (k + 1))
                dy = -2.5 if out else rng.normal(0, 0.002 * (k + 1))
                exc = (e.name, c.name, i) in excluded
                wcs = r.new_wcs[0] if r.new_wcs else c.wcs
                ra, dec = (float(v) for v in wcs.all_pix2world(cat["x"][i], cat["y"][i], 0))
                rows.append((e.group_id, e.name, c.name, i, i, float(cat["x"][i]), float(cat["y"][i]),
                             ra, dec, ra - dx / 3600 / np.cos(np.deg2rad(dec)), dec - dy / 3600,
                             dx, dy, not out and not exc, exc))
        names = ("group_id", "image", "chip", "input_idx", "ref_idx", "x", "y", "ra", "dec", "ref_ra",
                 "ref_dec", "dx", "dy", "used", "excluded")
        m = Table(rows=rows, names=names)
        rng = np.random.default_rng(7)
        offsets = np.vstack([rng.uniform(-1.5, 1.5, (300, 2)), rng.normal((0.3, -0.2), 0.02, (60, 2))])
        nused = int(np.sum(m["used"]))
        return model.FitResult("visit", "absolute", model.STATUS_SUCCESS, fitgeom="rscale",
                               nmatch=len(m), shift_arcsec=(0.3, -0.2), rmse_arcsec=0.004, matches=m,
                               offsets=offsets, hist_peak_arcsec=(0.3, -0.2),
                               images=[r.exposure.name for r in images], matcher="2dhist",
                               nused=nused, match_radius_arcsec=0.1, n_chance=0.4, significance=25.0)

    def save_outputs(self, result, output_dir, params, in_place=False, selected=None,
                     kinds=("images", "headerlets", "wcs", "shiftfile", "report", "catalogs")):
        self.calls.append(("save_outputs", set(selected or ()), tuple(kinds)))
        out = []
        for r in result.images:
            if selected is not None and r.exposure.name not in selected:
                continue
            p = Path(output_dir) / f"{r.exposure.root}_tweakreg.fits"
            p.write_text("fake")
            out.append(p)
        return out

    def api(self):
        from tweakgui.gui.controller import EngineApi

        return EngineApi(self.load_visit, self.run, self.save_outputs, self.read_pixels)
