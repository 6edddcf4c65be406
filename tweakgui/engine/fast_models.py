"""astropy models evaluated without astropy's per-call preparation: the same numbers, ~3× faster on a few points.

A NIRCam GWCS is ~25 small models.  Through ``Model.__call__`` each one
checks and broadcasts its inputs, gathers its parameter sets and reshapes its
outputs, ~40 µs a model: most of the cost when a fit evaluates a few points
(a reference pixel's cross, a chip's corners, a tangent plane's unit square).

:func:`fast` walks a model's tree once and calls each known leaf's own
``evaluate`` with the parameter sets astropy would hand it, so the arithmetic
is astropy's, bit for bit.  It does so only where astropy's preparation
changes nothing: float64 arrays of one shape with at least one dimension,
leaves of one model set, no units (plain numbers allowed where input units are
declared: astropy passes them on unchanged), and either scalar parameters or
no broadcasting against the inputs.  Anything else (another leaf type, units,
``fix_inputs``, scalars, lists) is evaluated by astropy, for that leaf, that
subtree or the whole call.
"""

from __future__ import annotations

import operator
import weakref

import numpy as np
from astropy.modeling import functional_models, mappings, polynomial, projections, rotations
from astropy.modeling.core import CompoundModel

__all__ = ["fast", "FastModel", "uses_quantity", "per_model"]

# leaves whose ``__call__`` does nothing but the generic preparation around ``evaluate``
_ASTROPY_LEAVES = frozenset({
    functional_models.Shift, functional_models.Scale, functional_models.Multiply, functional_models.Const1D,
    mappings.Mapping, mappings.Identity,
    polynomial.Polynomial1D, polynomial.Polynomial2D,
    rotations.RotationSequence3D, rotations.SphericalRotationSequence, rotations.Rotation2D,
    rotations.RotateNative2Celestial, rotations.RotateCelestial2Native, rotations.EulerAngleRotation,
    projections.Pix2Sky_TAN, projections.Sky2Pix_TAN, projections.AffineTransformation2D,
})
_leaves: frozenset | None = None


def _known_leaves() -> frozenset:
    """astropy's leaves and gwcs' spherical ↔ Cartesian ones (gwcs imported when first needed: it
    brings scipy.spatial, which a run imports only once detection has started)."""
    global _leaves
    if _leaves is None:
        from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

        _leaves = _ASTROPY_LEAVES | {CartesianToSpherical, SphericalToCartesian}
    return _leaves


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}


def _astropy(model):
    one = model.n_outputs == 1

    def call(args):
        out = model(*args)
        return (out,) if one else out

    return call


def _leaf(model, frozen: bool):
    if type(model) not in _known_leaves() or model._n_models != 1 or model._has_units or not _unitless_ok(model):
        return _astropy(model)
    if model.standard_broadcasting and any(getattr(model, n).shape for n in model.param_names):
        return _astropy(model)  # parameters that broadcast against the inputs change the output's shape
    evaluate, one = model.evaluate, model.n_outputs == 1
    fixed = model._param_sets(raw=True, units=False) if frozen else None
    make_matrix = getattr(rotations, "_create_matrix", None)  # astropy's own, or the generic leaf
    if fixed is not None and type(model) is rotations.RotationSequence3D and make_matrix is not None:
        return _rotation(make_matrix(fixed[0][0], model.axes_order))

    def leaf(args):
        params = fixed if fixed is not None else model._param_sets(raw=True, units=False)
        out = evaluate(*args, *params)
        if one:
            out = (out,)
        shape = args[0].shape
        # astropy reshapes each output to the inputs' shape (a view: the same numbers)
        return tuple(o if type(o) is np.ndarray and o.shape == shape else np.asarray(o).reshape(shape) for o in out)

    return leaf


def _rotation(matrix):
    """A frozen ``RotationSequence3D``: its matrix made once (astropy makes it from the angles, through
    ``Angle`` quantities, on every call, ~80 µs), then its ``evaluate``'s arithmetic."""
    def leaf(args):
        x, y, z = args
        shape = x.shape
        x, y, z = np.reshape(np.dot(matrix, np.array([x.ravel(), y.ravel(), z.ravel()])), (3, *shape))
        return x, y, z

    return leaf


def _unitless_ok(model) -> bool:
    """Does astropy take plain numbers as they are for every input (no input units, or allowed without)?"""
    if model.input_units is None:
        return True
    allowed = model.input_units_allow_dimensionless
    return all(allowed[name] for name in model.inputs) if isinstance(allowed, dict) else bool(allowed)


def _compile(model, frozen: bool):
    if not isinstance(model, CompoundModel):
        return _leaf(model, frozen)
    op = model.op
    if op == "|":
        left, right = _compile(model.left, frozen), _compile(model.right, frozen)
        return lambda args: right(left(args))
    if op == "&":
        left, right, n = _compile(model.left, frozen), _compile(model.right, frozen), model.left.n_inputs
        return lambda args: left(args[:n]) + right(args[n:])
    if op in _OPERATORS:
        left, right, fn = _compile(model.left, frozen), _compile(model.right, frozen), _OPERATORS[op]
        return lambda args: tuple(fn(a, b) for a, b in zip(left(args), right(args)))
    return _astropy(model)  # fix_inputs and the special operators


def _plain(args) -> bool:
    """Are the inputs what astropy would leave as they are (float64 arrays of one shape, ndim ≥ 1)?"""
    first = args[0] if args else None
    return (type(first) is np.ndarray and first.ndim > 0
            and all(type(a) is np.ndarray and a.dtype == np.float64 and a.shape == first.shape for a in args))


class FastModel:
    """``model(*args)`` through :func:`fast`; other attributes are the model's, ``inverse`` fast too."""

    def __init__(self, model, frozen: bool = False):
        self.model = model
        self._frozen = frozen
        self._tree = None
        self._one = model.n_outputs == 1
        self._inverse = None

    def __call__(self, *args, **kwargs):
        if kwargs or not _plain(args) or len(args) != self.model.n_inputs:
            return self.model(*args, **kwargs)
        if self._tree is None:
            self._tree = _compile(self.model, self._frozen)
        out = self._tree(args)
        return out[0] if self._one else out

    @property
    def inverse(self):
        if self._inverse is None:
            inv = self.model.inverse
            self._inverse = inv if inv is None else FastModel(inv, self._frozen)
        return self._inverse

    def __getattr__(self, name):
        if name.startswith("__") or name in ("model", "_frozen", "_tree", "_one", "_inverse"):
            raise AttributeError(name)  # not set yet (unpickling): never look these up on the model
        return getattr(self.model, name)

    def __reduce__(self):  # the compiled tree is closures: made again where it is used
        return FastModel, (self.model, self._frozen)


def per_model(cache: weakref.WeakKeyDictionary, model, make):
    """``make(model)``, kept in ``cache`` while ``model`` lives: for models never changed in place
    (a GWCS's steps).  A model that cannot be weakly referenced gets ``make(model)`` each time."""
    try:
        return cache[model]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable
        return make(model)
    value = cache[model] = make(model)
    return value


_frozen_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fast(model, frozen: bool = False):
    """``model`` as a :class:`FastModel` (see the module).

    ``frozen``: the model's parameters never change after this call (a GWCS's
    steps), so each leaf's parameter sets are gathered once; such wrappers are
    shared per model.  Without it they are gathered on every call, as astropy does.
    """
    if isinstance(model, FastModel):
        return model
    if not frozen:
        return FastModel(model)
    return per_model(_frozen_cache, model, lambda m: FastModel(m, frozen=True))


_quantity_steps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def uses_quantity(model) -> bool:
    """``model.uses_quantity`` (True for None), remembered per model: a GWCS's steps never change, and
    astropy works it out from every parameter on each look (~0.2 ms for a NIRCam distortion)."""
    if model is None:
        return True
    return per_model(_quantity_steps, model, lambda m: bool(getattr(m, "uses_quantity", True)))
