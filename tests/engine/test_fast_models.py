"""Models evaluated through ``fast_models.fast`` give astropy's numbers bit for bit, and astropy's own
evaluation wherever its preparation of inputs or parameters would change something."""

import numpy as np
import pytest
from astropy import units as u
from astropy.modeling import Model, models
from astropy.modeling.core import Model as CoreModel

import ceers_render as cr
from tweakgui.engine.fast_models import FastModel, fast, uses_quantity
from tweakgui.engine.fit.corrector import SharedJWSTCorrector
from tweakgui.engine.io.jwst import read_wcs_file

KEYS = ("v2_ref", "v3_ref", "roll_ref")


@pytest.fixture(scope="module")
def nircam(shared_data):
    wcs, info = read_wcs_file(cr.wcs_file("jw01345001001_02201_00001", "nrca1", shared_data / "ceers-nircam"))
    return wcs, info


def _points():
    x1, y1 = np.array([10.0, 500.5, 1000.0, 2040.0]), np.array([20.0, 700.25, 1500.0, 7.0])
    y2, x2 = np.mgrid[0:2047:5j, 0:2047:3j]
    return [(x1, y1), (x2, y2)]


def _equal(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert type(p) is type(q)
        np.testing.assert_array_equal(p, q)
        assert np.shape(p) == np.shape(q)


@pytest.fixture
def prepared_calls(monkeypatch):
    """How many times astropy prepared a model's inputs (zero when every leaf took the fast path)."""
    calls = []
    original = CoreModel.prepare_inputs

    def counting(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CoreModel, "prepare_inputs", counting)
    return calls


@pytest.mark.realdata
@pytest.mark.parametrize("frozen", [False, True])
def test_nircam_steps_and_inverses_give_astropys_numbers(nircam, frozen, prepared_calls):
    wcs, _ = nircam
    for x, y in _points():
        args = (x, y)
        for step in wcs.pipeline[:-1]:
            t = step.transform
            want = t(*args)
            prepared_calls.clear()
            _equal(fast(t, frozen=frozen)(*args), want)
            assert prepared_calls == [], f"{step.frame.name}: astropy prepared {prepared_calls}"
            back = t.inverse(*want)
            _equal(fast(t, frozen=frozen).inverse(*want), back)
            args = want
        _equal(fast(wcs.forward_transform, frozen=frozen)(x, y), wcs.forward_transform(x, y))


@pytest.mark.realdata
def test_a_tangent_plane_correction_and_its_partial_model(nircam):
    wcs, info = nircam
    c = SharedJWSTCorrector(wcs, {k: info[k] for k in KEYS})
    c.set_correction(np.array([[1.0, 2e-5], [-2e-5, 1.0]]), np.array([0.05, -0.1]))
    i = c.wcs.available_frames.index("v2v3corr")
    tpcorr = c.wcs.pipeline[i - 1].transform
    partial = c._v2v3_to_tpcorr_from_full(tpcorr)
    v2, v3 = np.array([120.5, 120.6, 120.55]) / 3600, np.array([-527.7, -527.6, -527.65]) / 3600
    _equal(fast(tpcorr)(v2, v3), tpcorr(v2, v3))
    _equal(fast(partial)(v2, v3), partial(v2, v3))  # the '/' of its Cartesian → TAN step included
    xt, yt = partial(v2, v3)
    _equal(fast(partial).inverse(xt, yt), partial.inverse(xt, yt))


def test_inputs_astropy_would_change_go_through_astropy():
    shift = models.Shift(1.5) & models.Scale(2.0)
    cases = [(3.0, 4.0), (np.float64(3.0), np.float64(4.0)), ([1.0, 2.0], [3.0, 4.0]),
             (np.array([1, 2]), np.array([3, 4])), (np.array(3.0), np.array(4.0)),
             (np.array([1.0, 2.0]), np.array([[3.0], [4.0]]))]
    for args in cases:
        _equal(fast(shift)(*args), shift(*args))
    q = models.Shift(1.0 * u.deg)
    assert fast(q)(np.array([1.0, 2.0]) * u.deg).unit == u.deg


def test_leaves_it_does_not_know_go_through_astropy(prepared_calls):
    class Doubler(Model):
        n_inputs, n_outputs = 1, 1

        @staticmethod
        def evaluate(x):
            return 2 * x

    x = np.array([1.0, 2.0, 3.0])
    m = models.Shift(1.0) | Doubler()
    want = m(x)
    prepared_calls.clear()
    _equal(fast(m)(x), want)
    assert prepared_calls == ["Doubler"]
    prepared_calls.clear()
    ms = models.Shift([1.0, 2.0], n_models=2)  # a model set
    _equal(fast(ms)(np.array([[1.0], [1.0]])), ms(np.array([[1.0], [1.0]])))
    fixed = models.fix_inputs(models.Shift(1.0) & models.Scale(3.0), {1: 2.0})
    _equal(fast(fixed)(x), fixed(x))
    broadcasting = models.Polynomial1D(1, c0=[1.0, 2.0, 3.0], c1=1.0)  # parameters that broadcast
    _equal(fast(broadcasting)(x), broadcasting(x))


def test_arithmetic_compounds():
    x, y = np.array([1.0, 2.0, 4.0]), np.array([0.5, 3.0, -1.0])
    for m in (models.Shift(1.0) + models.Scale(2.0), models.Shift(1.0) - models.Scale(2.0),
              models.Shift(1.0) * models.Scale(2.0), models.Shift(1.0) / models.Scale(2.0),
              models.Shift(1.0) ** models.Scale(2.0),
              (models.Mapping((0, 1, 2)) / models.Mapping((0, 0, 0), n_inputs=3)) | models.Mapping((1, 2))):
        args = (x,) if m.n_inputs == 1 else (x, y, x)
        _equal(fast(m)(*args), m(*args))


def test_parameters_are_read_on_every_call_unless_frozen():
    m = models.Shift(1.0)
    x = np.array([1.0, 2.0])
    loose, frozen = fast(m), fast(m, frozen=True)
    _equal(loose(x), m(x))
    _equal(frozen(x), m(x))
    m.offset = 10.0
    _equal(loose(x), m(x))  # a correction changed in place (tweakwcs' default TPCorr) is seen
    np.testing.assert_array_equal(frozen(x), x + 1.0)  # frozen: a GWCS's steps, never changed
    assert fast(m, frozen=True) is frozen and fast(frozen) is frozen
    assert isinstance(frozen, FastModel) and frozen.n_inputs == 1 and frozen.model is m


def test_a_frozen_rotation_gives_astropys_numbers():
    rot = models.RotationSequence3D([0.03, 0.14, 130.6, 52.9, -214.9], axes_order="zyxyz")
    x, y, z = (np.array([0.1, 0.5, -0.3]), np.array([0.7, -0.2, 0.4]), np.array([0.7, 0.84, 0.87]))
    _equal(fast(rot, frozen=True)(x, y, z), rot(x, y, z))
    _equal(fast(rot, frozen=True).inverse(x, y, z), rot.inverse(x, y, z))
    y2 = np.stack([y, y])
    _equal(fast(rot, frozen=True)(np.stack([x, x]), y2, np.stack([z, z])), rot(np.stack([x, x]), y2, np.stack([z, z])))


def test_uses_quantity_is_astropys_answer():
    assert uses_quantity(None) is True
    assert uses_quantity(models.Shift(1.0)) is False
    assert uses_quantity(models.Shift(1.0 * u.deg)) is True
    m = models.Shift(1.0) | models.Scale(2.0)
    assert uses_quantity(m) is m.uses_quantity is False


def test_a_fast_model_travels_by_pickle_after_use():
    import pickle

    m = models.Shift(1.0) | models.Scale(2.0)
    x = np.array([1.0, 2.0])
    f = fast(m)
    f(x)  # compiled: closures inside
    g = pickle.loads(pickle.dumps(f))
    _equal(g(x), m(x))
    assert isinstance(g, FastModel) and g.n_inputs == 1
