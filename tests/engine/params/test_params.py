"""The parameter model: jwst's names and defaults, coercion and validation."""

import json
import math
import subprocess

import pytest

from tweakgui.engine.params.spec import (
    GROUPS,
    SPEC,
    SPEC_BY_NAME,
    TWEAKGUI_ONLY,
    ParameterError,
    TweakRegParams,
    coerce,
)

# jwst 3.0.0 TweakRegStep spec (jwst/tweakreg/tweakreg_step.py), stpipe-generic keys left out.
JWST_DEFAULTS = {
    "save_catalogs": False, "use_custom_catalogs": False, "catalog_format": "ecsv",
    "catfile": "", "starfinder": "iraf", "snr_threshold": 10.0, "kernel_fwhm": 2.5,
    "bkg_boxsize": 400, "minsep_fwhm": 0.0, "sigma_radius": 1.5, "sharplo": 0.5,
    "sharphi": 2.0, "roundlo": 0.0, "roundhi": 0.2, "brightest": 200, "peakmax": None,
    "npixels": 10, "connectivity": 8, "nlevels": 32, "contrast": 0.001,
    "multithresh_mode": "exponential", "localbkg_width": 0, "apermask_method": "correct",
    "kron_params": None, "deblend": True, "enforce_user_order": False,
    "expand_refcat": False, "minobj": 15, "fitgeometry": "rshift", "nclip": 3, "sigma": 3.0,
    "searchrad": 2.0, "use2dhist": True, "separation": 1.0, "tolerance": 0.7,
    "xoffset": 0.0, "yoffset": 0.0, "abs_refcat": "", "save_abs_catalog": False,
    "abs_minobj": 15, "abs_fitgeometry": "rshift", "abs_nclip": 3, "abs_sigma": 3.0,
    "abs_searchrad": 6.0, "abs_use2dhist": True, "abs_separation": 1.0,
    "abs_tolerance": 0.7, "sip_approx": True, "sip_max_pix_error": 0.01, "sip_degree": None,
    "sip_max_inv_pix_error": 0.01, "sip_inv_degree": None, "sip_npoints": 12,
}
JWST_OPTIONS = {
    "starfinder": ("dao", "iraf", "segmentation"),
    "connectivity": (4, 8),
    "multithresh_mode": ("exponential", "linear", "sinh"),
    "apermask_method": ("correct", "mask", "none"),
    "fitgeometry": ("shift", "rshift", "rscale", "general"),
    "abs_fitgeometry": ("shift", "rshift", "rscale", "general"),
}


def test_names_and_defaults_match_jwst_spec():
    ours = {s.name: s.default for s in SPEC if s.name not in TWEAKGUI_ONLY}
    assert ours == JWST_DEFAULTS
    assert set(TWEAKGUI_ONLY) == {"abs_mode", "exclusions", "wcsname", "reject_large_corrections",
                                  "pixel_units", "abs_refcat_racol", "abs_refcat_deccol", "abs_refcat_magcol",
                                  "abs_refcat_minmag", "abs_refcat_maxmag", "abs_refcat_nbright",
                                  "abs_refcat_errcols", "abs_pm_policy", "abs_max_pm_error", "abs_epoch",
                                  "abs_weights", "abs_weight_floor", "save_match_files"}
    assert TweakRegParams().to_dict() == {s.name: s.default for s in SPEC}


def test_jwst_options_are_accepted():
    for name, options in JWST_OPTIONS.items():
        assert set(options) <= set(SPEC_BY_NAME[name].choices)
        for value in options:
            assert getattr(TweakRegParams(**{name: value}), name) == value
    assert SPEC_BY_NAME["starfinder"].choices == ("dao", "iraf", "segmentation", "sep")


@pytest.mark.slow
def test_defaults_match_installed_jwst(peer_python):
    python = peer_python("jwst.tweakreg")
    code = (
        "import json; from jwst.tweakreg import TweakRegStep;"
        "s = TweakRegStep(); print(json.dumps({k: s.get_pars()[k] for k in %r}))"
        % sorted(JWST_DEFAULTS)
    )
    out = subprocess.run([str(python), "-W", "ignore", "-c", code], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    theirs["connectivity"] = int(theirs["connectivity"])  # stpipe keeps option values as text
    assert theirs == JWST_DEFAULTS


def test_every_parameter_has_a_tooltip_and_group():
    for s in SPEC:
        assert len(s.doc) >= 20, s.name
        assert s.group in GROUPS
    for name in ("searchrad", "separation", "tolerance", "xoffset", "abs_searchrad"):
        assert "arcsec" in SPEC_BY_NAME[name].doc


def test_strings_are_coerced():
    p = TweakRegParams(snr_threshold="5", use2dhist="false", minobj="20", peakmax="None",
                       kron_params="2.5, 1.4", connectivity="4", brightest="none", sip_degree="3")
    assert p.snr_threshold == 5.0 and isinstance(p.snr_threshold, float)
    assert p.use2dhist is False
    assert p.minobj == 20 and isinstance(p.minobj, int)
    assert p.peakmax is None and p.brightest is None
    assert p.kron_params == [2.5, 1.4]
    assert p.connectivity == 4 and p.sip_degree == 3
    assert coerce("abs_refcat", None) == ""
    assert coerce("minobj", 20.0) == 20


@pytest.mark.parametrize("kwargs, pattern", [
    ({"snr_treshold": 5}, r"unknown parameter 'snr_treshold'"),
    ({"snr_threshold": "abc"}, r"^snr_threshold must be a number, got 'abc'"),
    ({"use2dhist": "maybe"}, r"^use2dhist must be true or false"),
    ({"minobj": 2.5}, r"^minobj must be an integer"),
    ({"minobj": True}, r"^minobj must be an integer"),
    ({"starfinder": 5}, r"^starfinder must be a string"),
    ({"kron_params": "a b"}, r"^kron_params must be a list of numbers"),
    ({"snr_threshold": "nan"}, r"^snr_threshold must be a number"),
    ({"minobj": None}, r"^minobj must not be None"),
])
def test_bad_name_or_type_names_the_parameter(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        TweakRegParams(**kwargs)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"starfinder": "sextractor"}, r"^starfinder must be one of 'dao', 'iraf', 'segmentation', 'sep'"),
    ({"fitgeometry": "affine"}, r"^fitgeometry must be one of"),
    ({"abs_fitgeometry": "RSHIFT"}, r"^abs_fitgeometry must be one of"),
    ({"connectivity": 6}, r"^connectivity must be one of 4, 8, got 6"),
    ({"abs_mode": "all"}, r"^abs_mode must be one of 'visit', 'group'"),
])
def test_bad_option_names_the_parameter(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        TweakRegParams(**kwargs)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"contrast": 1.5}, r"^contrast must be <= 1, got 1.5"),
    ({"sip_degree": 7}, r"^sip_degree must be <= 6, got 7"),
    ({"nclip": -1}, r"^nclip must be >= 0, got -1"),
    ({"snr_threshold": 0}, r"^snr_threshold must be > 0, got 0"),
    ({"kernel_fwhm": -2.5}, r"^kernel_fwhm must be > 0"),
    ({"sigma": 0.0}, r"^sigma must be > 0"),
    ({"minobj": 0}, r"^minobj must be >= 1"),
    ({"kron_params": [2.5]}, r"^kron_params must have 2 or 3 numbers, got 1"),
    ({"xoffset": math.inf}, r"^xoffset must be finite"),
])
def test_out_of_range_names_the_parameter(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        TweakRegParams(**kwargs)


@pytest.mark.parametrize("name", ["searchrad", "abs_searchrad", "tolerance", "abs_tolerance"])
@pytest.mark.parametrize("value", [-1.0, 0.0])
def test_non_positive_radius_is_refused(name, value):
    with pytest.raises(ParameterError, match=rf"^{name} must be > 0, got {value}"):
        TweakRegParams(**{name: value})


@pytest.mark.parametrize("name", ["separation", "abs_separation"])
def test_negative_separation_is_refused(name):
    with pytest.raises(ParameterError, match=rf"^{name} must be >= 0, got -0.1"):
        TweakRegParams(**{name: -0.1})


@pytest.mark.parametrize("prefix", ["", "abs_"])
def test_separation_must_exceed_sqrt2_tolerance(prefix):
    tol = 0.5
    limit = math.sqrt(2) * tol  # 0.7071 arcsec
    for sep in (0.5, limit):
        with pytest.raises(ParameterError,
                           match=rf"^{prefix}separation \({sep:g}\) must be > sqrt\(2\) \* "
                                 rf"{prefix}tolerance \(0.7071\)"):
            TweakRegParams(**{f"{prefix}separation": sep, f"{prefix}tolerance": tol})
    p = TweakRegParams(**{f"{prefix}separation": 0.708, f"{prefix}tolerance": tol})
    assert getattr(p, f"{prefix}separation") == 0.708


def test_replace_changed_and_equality():
    p = TweakRegParams(fitgeometry="rscale", abs_refcat="GAIADR3")
    assert p.changed() == {"fitgeometry": "rscale", "abs_refcat": "GAIADR3"}
    q = p.replace(minobj=20)
    assert q.minobj == 20 and q.fitgeometry == "rscale" and p.minobj == 15
    assert TweakRegParams(**q.to_dict()) == q and q != p
    with pytest.raises(ParameterError, match="^tolerance must be > 0"):
        p.replace(tolerance=0)
    kron = TweakRegParams(kron_params=[2.5, 1.4])
    kron.to_dict()["kron_params"].append(9.0)
    assert kron.kron_params == [2.5, 1.4]
