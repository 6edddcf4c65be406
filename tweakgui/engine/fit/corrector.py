"""tweakwcs' JWST corrector without its copies: one per chip and stage costs a few ms, not 90.

``tweakwcs.correctors.JWSTWCSCorrector`` deep-copies the GWCS when it is
built (16 ms for a NIRCam GWCS), builds its tangent-plane transforms at once
(6 ms, the inverse of the distortion included, which a fit never uses) and,
in ``set_correction``, deep-copies the whole pipeline again before putting
the correction in it (60 ms with the transforms rebuilt).  A mosaic builds
one corrector per image and stage.

:class:`SharedJWSTCorrector` gives the same corrected GWCS (identical
numbers and structure: the ``v2v3corr`` step, tweakwcs' ``TPCorr``) without
copying anything: the new GWCS shares every transform of the old one but the
correction, which is built anew for every ``set_correction`` and never
changed afterwards (an earlier correction is copied before it is combined
with a new one, as tweakwcs does), so no GWCS handed out (the input, an
earlier result) ever changes.  Transforms are made when first used, as
functions chaining the GWCS's steps (``gwcs.WCS.__call__`` and
``get_transform`` build compound models, which costs more than evaluating
them), and each shared step is inverted once.
"""

from __future__ import annotations

import weakref
from copy import deepcopy

import gwcs
import numpy as np
from gwcs.wcs import Step
from tweakwcs.correctors import JWSTWCSCorrector, WCSCorrector, _tp2tp
from tweakwcs.linalg import inv

from tweakgui.engine.fast_models import fast, per_model, uses_quantity
from tweakgui.engine.geometry import chained, gwcs_forward

__all__ = ["SharedJWSTCorrector", "wcs_delta", "apply_wcs_delta"]

_ARCSEC2RAD = np.deg2rad(1.0 / 3600.0)
# attribute -> (from, to) frames of the transform tweakwcs keeps under that name
_LAZY_TRANSFORMS = {"_world_to_v23": ("world", "v23"), "_v23_to_world": ("v23", "world"),
                    "_det_to_v23": ("det", "v23"), "_v23_to_det": ("v23", "det")}


class SharedJWSTCorrector(JWSTWCSCorrector):
    """A ``JWSTWCSCorrector`` whose GWCS shares the transforms of the one given (see the module)."""

    def __init__(self, wcs, wcsinfo, meta=None):  # noqa: D107 (tweakwcs' parameters)
        valid, message = self._check_wcs_structure(wcs)
        if not valid:
            raise ValueError(f"Unsupported WCS structure: {message}")
        self._owcs = self._wcs = wcs
        self._meta = {} if meta is None else dict(meta)
        self._wcsinfo = {k: wcsinfo[k] for k in ("v2_ref", "v3_ref", "roll_ref")}
        self._default_tpcorr = None
        frames = wcs.available_frames
        if "v2v3corr" in frames:
            self._v23name = "v2v3corr"
            self._tpcorr = wcs.pipeline[frames.index("v2v3corr") - 1].transform  # read, never changed
            self._check_tpcorr()
        else:
            self._v23name = "v2v3vacorr" if "v2v3vacorr" in frames else "v2v3"
            self._tpcorr = None
        self._update_transformations()

    def _check_tpcorr(self):
        """tweakwcs' checks of an existing correction: its type and its reference angles."""
        if not self._check_tpcorr_structure(self._tpcorr):
            raise ValueError("Unsupported tangent-plane correction type.")
        v2ref, v3ref, roll = self._tpcorr["det_to_optic_axis"].angles.value
        info = self._wcsinfo
        eps = {k: 10.0 * np.finfo(v).eps for k, v in info.items()}
        if not (np.isclose(info["v2_ref"], v2ref * 3600.0, rtol=eps["v2_ref"])
                and np.isclose(info["v3_ref"], -v3ref * 3600.0, rtol=eps["v3_ref"])
                and np.isclose(info["roll_ref"], roll, rtol=eps["roll_ref"])):
            raise ValueError("WCS/TPCorr parameters 'v2ref', 'v3ref', and/or 'roll' differ from the "
                             "corresponding reference values.")

    def _update_transformations(self):
        for name in (*_LAZY_TRANSFORMS, "_partial_tpcorr", "_det_to_world"):
            self.__dict__.pop(name, None)
        self._world_to_det = self._wcs.invert

    def __getattr__(self, name):
        # only reached for attributes not yet set: the transforms, built on first use
        if name == "_det_to_world":
            value = _forward(self._wcs)
        elif name == "_partial_tpcorr":
            if self._tpcorr is None and self._default_tpcorr is None:
                self._default_tpcorr = self._new_tpcorr()  # not in any GWCS yet: set_correction may use it
            # not frozen: it shares the affine of a default correction that set_correction changes in place
            value = fast(self._v2v3_to_tpcorr_from_full(
                self._tpcorr if self._tpcorr is not None else self._default_tpcorr))
        elif name in _LAZY_TRANSFORMS:
            names = {"world": self._wcs.pipeline[-1].frame.name, "det": self._wcs.pipeline[0].frame.name,
                     "v23": self._v23name}
            a, b = _LAZY_TRANSFORMS[name]
            try:
                value = _between(self._wcs, names[a], names[b])
            except NotImplementedError:
                value = None
        else:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def _new_tpcorr(self):
        info = self._wcsinfo
        return self._tpcorr_init(v2_ref=info["v2_ref"] / 3600.0, v3_ref=info["v3_ref"] / 3600.0,
                                 roll_ref=info["roll_ref"], corrector_name=self.corrector_name)

    def set_correction(self, matrix=((1, 0), (0, 1)), shift=(0, 0), ref_tpwcs=None, meta=None, **kwargs):
        """tweakwcs' ``set_correction``: the same GWCS, built without copying the pipeline."""
        if ref_tpwcs is None:
            matrix = np.array(matrix, dtype=np.double)
            shift = np.array(shift, dtype=np.double)
        else:  # the correction in this image's own tangent plane
            r, t = _tp2tp(ref_tpwcs, self)
            matrix = np.linalg.multi_dot([r, matrix, inv(r)]).astype(np.double)
            shift = (np.dot(r, shift) - np.dot(matrix, t) + t).astype(np.double)
        # a new correction, or a copy of the old one combined with it: never one a GWCS holds
        if self._tpcorr is not None:
            tpcorr = deepcopy(self._tpcorr)
        else:
            tpcorr = self._default_tpcorr if self._default_tpcorr is not None else self._new_tpcorr()
        self._default_tpcorr = None
        self._tpcorr_combine_affines(tpcorr, matrix, _ARCSEC2RAD * np.asarray(shift))
        steps = [Step(s.frame, s.transform) for s in self._wcs.pipeline]
        i = self._wcs.available_frames.index(self._v23name)
        if self._v23name == "v2v3corr":
            steps[i - 1] = Step(steps[i - 1].frame, tpcorr)
        else:
            frame = deepcopy(steps[i].frame)
            frame.name = "v2v3corr"
            steps[i:i + 1] = [Step(steps[i].frame, tpcorr), Step(frame, steps[i].transform)]
            self._v23name = "v2v3corr"
        self._tpcorr = tpcorr
        self._wcs = gwcs.WCS(steps, name=self._owcs.name)
        self._update_transformations()
        WCSCorrector.set_correction(self, matrix=matrix, shift=shift, meta=meta, **kwargs)



def _forward(wcs):
    """``wcs(x, y)``, its steps chained (a GWCS builds its forward transform on every call)."""
    return gwcs_forward(wcs, bounding_box=True)


_inverses = weakref.WeakKeyDictionary()  # step transform -> its inverse: shared steps are inverted once


def _inverse(transform):
    return per_model(_inverses, transform, lambda t: t.inverse)


def _between(wcs, a: str, b: str):
    """``wcs.get_transform(a, b)`` as a function of chained steps (no compound model built)."""
    i, j = wcs.available_frames.index(a), wcs.available_frames.index(b)
    steps = [s.transform for s in wcs.pipeline]
    if any(uses_quantity(t) for t in steps[min(i, j):max(i, j)]):
        return wcs.get_transform(a, b)
    if j > i:
        return chained(steps[i:j])
    return chained([_inverse(t) for t in steps[j:i][::-1]])


class _Old(int):
    """Index of a step of the old GWCS whose frame or transform the new one shares."""


def wcs_delta(new, old):
    """``new`` as what it does not share with ``old``: the small thing to send to another process.

    A GWCS corrected by :class:`SharedJWSTCorrector` shares all but its
    correction step with the one it started from: the frames and transforms
    it shares are given by their index in ``old``, the others as themselves.
    Anything else (a FITS WCS, an unrelated GWCS) is given whole.
    :func:`apply_wcs_delta` makes ``new`` back from the receiver's ``old``.
    """
    if new is old:
        return ("same",)
    if not (hasattr(new, "pipeline") and hasattr(old, "pipeline")):
        return ("whole", new)
    frames = {id(s.frame): _Old(i) for i, s in enumerate(old.pipeline)}
    transforms = {id(s.transform): _Old(i) for i, s in enumerate(old.pipeline) if s.transform is not None}
    steps = [(frames.get(id(s.frame), s.frame), transforms.get(id(s.transform), s.transform)) for s in new.pipeline]
    return ("steps", new.name, steps)


def apply_wcs_delta(delta, old):
    """The WCS that :func:`wcs_delta` described, its shared parts taken from ``old``."""
    if delta[0] == "same":
        return old
    if delta[0] == "whole":
        return delta[1]
    _, name, steps = delta
    pipe = old.pipeline
    return gwcs.WCS([Step(pipe[f].frame if isinstance(f, _Old) else f, pipe[t].transform if isinstance(t, _Old) else t)
                     for f, t in steps], name=name)
