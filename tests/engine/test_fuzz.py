"""Property-based tests of the parsers (issue 6): any input gives a result or a clean error.

Parameter files (cfg text, ASDF trees), command-line overrides, catfiles, ASN
json, exclusions files, DS9 region files and catalogs are fed random content.
Each call must return normally or raise the project's own
:class:`~tweakgui.engine.model.InputError` or
:class:`~tweakgui.engine.params.spec.ParameterError` with a one-line message --
never another exception, which the command line would report as an internal
error.  The runs are bounded (``max_examples``) to keep the suite fast.
"""

from __future__ import annotations

import json
import math
import string
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tweakgui.engine.detect import custom, exclusions
from tweakgui.engine.io import inputs
from tweakgui.engine.model import InputError
from tweakgui.engine.params import files as paramfiles
from tweakgui.engine.params.spec import (
    SPEC,
    SPEC_BY_NAME,
    ParameterError,
    TweakRegParams,
)
from tweakgui.engine.refcat import files as refcat_files

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
FEW = settings(FUZZ, max_examples=60)

CLEAN = (InputError, ParameterError)


@contextmanager
def clean_errors_only():
    """Let only the project's errors through, and check they are one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except CLEAN as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "\r" not in msg, repr(msg)


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="tweakgui-fuzz-") as d:
        yield Path(d)


def _write(workdir: Path, name: str, content) -> Path:
    p = workdir / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", errors="surrogatepass")
    return p


# text made of what the parsers care about, plus anything at all
_TOKENS = ["[", "]", "=", "#", ";", ",", "@", "\"", "'", " ", "\t", "\n", "none", "INDEF", "true",
           "1e309", "nan", "-", "(", ")", "circle", "box", "polygon", "image", "fk5", "demo01_flt.fits",
           "x.ecsv", "mask.fits", ".reg", "SCI,1", "snr_threshold", "searchrad", "fitgeometry",
           "DEFAULT", "_task_name_", "tweakreg", "0", "-3", "2.5", "\x00", "é", "\r"]
_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(_TOKENS) | st.text(max_size=8), max_size=60).map("".join),
)
_BYTES = st.binary(max_size=600)

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                     st.sampled_from(["none", "true", "false", "", "shift", "dao", "10", "1e5"]))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=10)),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["products", "members", "expname", "exptype", "group_id", "tweakreg_catalog",
                         "name", "asn_id"]) | st.text(max_size=5), kids, max_size=5),
    max_leaves=25,
)
_PARAM_NAMES = st.sampled_from([s.name for s in SPEC]) | st.text(max_size=10)


def _param_value(name: str):
    spec = SPEC_BY_NAME.get(name)
    values = [_SCALARS, st.lists(_SCALARS, max_size=4)]
    if spec is not None and spec.choices:
        values.append(st.sampled_from(list(spec.choices)))
    return st.one_of(*values)


# ------------------------------------------------------------------ parameters


@FUZZ
@given(kwargs=st.dictionaries(_PARAM_NAMES, _SCALARS | st.lists(_SCALARS, max_size=4), max_size=6))
@example(kwargs={"\r": None})  # found by this test: a line break in the message
def test_params_from_random_values(kwargs):
    with clean_errors_only():
        p = TweakRegParams(**kwargs)
        # what constructed validates: the separation rule holds
        assert p.separation > math.sqrt(2) * p.tolerance


@FUZZ
@given(argv=st.lists(st.one_of(
    st.sampled_from([f"--{s.name}" for s in SPEC] + ["--", "--use2dhist=maybe", "-x", "--x="]),
    st.text(max_size=10)), max_size=8))
def test_cli_overrides_from_random_argv(argv):
    with clean_errors_only():
        overrides, rest = paramfiles.parse_cli_overrides(argv)
        assert set(overrides) <= set(SPEC_BY_NAME)
        assert all(isinstance(v, str) for v in overrides.values())
        paramfiles.resolve_params(None, None, overrides)


@FUZZ
@given(text=_TEXT, section=st.none() | st.text(max_size=6))
def test_cfg_from_random_text(workdir, text, section):
    path = _write(workdir, "fuzz.cfg", text)
    with clean_errors_only():
        values = paramfiles.load_cfg(path, section)
        assert set(values) <= set(SPEC_BY_NAME)


@FUZZ
@given(text=st.builds(
    lambda sec, items: f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in items),
    st.text(string.ascii_letters, min_size=1, max_size=5),
    st.lists(st.tuples(st.sampled_from([s.name for s in SPEC] + ["threshold", "writecat", "conv_width"]),
                       st.text(max_size=10).map(lambda s: s.replace("\n", " "))), max_size=8)))
def test_cfg_with_real_names_and_random_values(workdir, text):
    path = _write(workdir, "named.cfg", text)
    with clean_errors_only():
        paramfiles.resolve_params(path)


_TREES = st.one_of(
    st.dictionaries(st.sampled_from(["parameters", "steps", "class", "name", "tweakgui"]) | st.text(max_size=5),
                    _JSON, max_size=4),
    st.fixed_dictionaries({
        "class": st.sampled_from([paramfiles.JWST_STEP_CLASS, "jwst.other.Step", ""]) | st.text(max_size=5),
        "parameters": st.dictionaries(_PARAM_NAMES, _SCALARS | st.lists(_SCALARS, max_size=3), max_size=8),
    }),
    st.fixed_dictionaries({
        "steps": st.lists(st.fixed_dictionaries({
            "class": st.sampled_from([paramfiles.JWST_STEP_CLASS, "x"]),
            "name": st.sampled_from(["tweakreg", "resample", ""]),
            "parameters": st.dictionaries(_PARAM_NAMES, _SCALARS, max_size=5) | _JSON,
        }), max_size=3),
    }),
)


@FEW
@given(tree=_TREES)
@example(tree={"steps": [{"class": paramfiles.JWST_STEP_CLASS, "name": "tweakreg", "parameters": [None]}]})
def test_asdf_pars_from_random_trees(workdir, tree):
    import asdf

    path = workdir / "fuzz.asdf"
    try:
        asdf.AsdfFile(tree).write_to(path)
    except Exception:  # asdf cannot serialise some trees (e.g. huge ints): not our parser's business
        assume(False)
    with clean_errors_only():
        values = paramfiles.load_asdf_pars(path)
        assert set(values) <= set(SPEC_BY_NAME)
        TweakRegParams(**values)


@FEW
@given(data=_BYTES)
def test_param_file_from_random_bytes(workdir, data):
    for name in ("bytes.asdf", "bytes.cfg", "bytes.pars"):
        path = _write(workdir, name, (b"#ASDF 1.0.0\n" if name == "bytes.pars" else b"") + data)
        with clean_errors_only():
            paramfiles.load_params_file(path)


# -------------------------------------------------------------------- catfiles


@FUZZ
@given(content=_TEXT | _BYTES)
@example(content=b",")  # found by this test: a line of commas
def test_catfile_from_random_content(workdir, content):
    path = _write(workdir, "catfile.txt", content)
    with clean_errors_only():
        table = custom.parse_catfile(path)
        for image, entries in table.items():
            assert isinstance(image, str)
            assert all(e is None or isinstance(e, Path) for e in entries)


# ------------------------------------------------------------------------- ASN


@FUZZ
@given(doc=_JSON)
def test_asn_from_random_json(workdir, doc):
    path = workdir / "fuzz_asn.json"
    path.write_text(json.dumps(doc))
    with clean_errors_only():
        items = inputs.read_asn(path)
        assert items and all(isinstance(it.path, Path) for it in items)
    with clean_errors_only():
        inputs.expand_inputs([str(path)])


@FUZZ
@given(members=st.lists(st.dictionaries(
    st.sampled_from(["expname", "exptype", "group_id", "tweakreg_catalog"]),
    _SCALARS | _JSON, max_size=4), max_size=4))
def test_asn_with_random_members(workdir, members):
    path = workdir / "members_asn.json"
    path.write_text(json.dumps({"products": [{"members": members}]}))
    with clean_errors_only():
        inputs.expand_inputs([str(path)])


@FUZZ
@given(content=_TEXT | _BYTES)
def test_asn_and_lists_from_random_content(workdir, content):
    asn = _write(workdir, "raw_asn.json", content)
    lst = _write(workdir, "raw.lst", content)
    with clean_errors_only():
        inputs.expand_inputs([str(asn)])
    with clean_errors_only():
        inputs.expand_inputs([f"@{lst}"])


@FUZZ
@given(specs=st.lists(_TEXT, max_size=4))
@example(specs=["@\x00"])  # found by this test: a NUL in a list file name
def test_input_specs_from_random_text(workdir, specs):
    with clean_errors_only():
        inputs.expand_inputs([str(workdir / s) if s and not s.startswith("@") else s for s in specs])


# ------------------------------------------------------------------ exclusions


@FUZZ
@given(content=_TEXT | _BYTES)
@example(content=b"\x80")  # found by this test: not UTF-8
def test_exclusions_file_from_random_content(workdir, content):
    (workdir / "x.reg").write_text("circle(10,10,5)\n")
    path = _write(workdir, "exclusions.txt", content)
    with clean_errors_only():
        table = exclusions.read_exclusions_file(path)
        assert all(isinstance(v, list) for v in table.values())


_REGION_LINE = st.one_of(
    st.builds(lambda sign, shape, args: f"{sign}{shape}({','.join(args)})",
              st.sampled_from(["", "-"]),
              st.sampled_from(["circle", "box", "ellipse", "polygon", "annulus", "point", "line", "text",
                               "vector", "banana"]),
              st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                 st.sampled_from(["10", "-5", "0", "1e300", "12:30:00", "+2:00:00", "3\"",
                                                  "4'", "{text}", ""])), max_size=7)),
    st.sampled_from(["image", "physical", "fk5", "icrs", "galactic", "global color=green",
                     "# Region file format: DS9", "wcs;", ""]),
    st.text(max_size=30),
)


@FUZZ
@given(lines=st.lists(_REGION_LINE, max_size=6))
@example(lines=["image", "circle(10,10,1e300)"])  # found by this test: overflow, then gigabytes
@example(lines=["image", "box(10,10,60000,60000,0)"])
@example(lines=["image", "polygon()"])  # found by this test: a polygon without vertices
def test_region_files_from_random_text(workdir, lines):
    from astropy.wcs import WCS

    path = _write(workdir, "fuzz.reg", "\n".join(lines) + "\n")
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [32.0, 32.0]
    w.wcs.cdelt = [-1e-5, 1e-5]
    with clean_errors_only():
        mask = exclusions.exclusion_mask(path, (64, 64), w)
        assert mask is None or (mask.shape == (64, 64) and mask.dtype == bool)


@FEW
@given(content=_BYTES)
def test_masks_from_random_bytes(workdir, content):
    path = _write(workdir, "fuzz_mask.fits", b"SIMPLE  =" + content)
    with clean_errors_only():
        exclusions.exclusion_mask(path, (32, 32))


# -------------------------------------------------------------------- catalogs


_COLNAMES = st.sampled_from(["x", "y", "X", "Y", "xcentroid", "ycentroid", "weight", "flux", "RA", "DEC",
                             "ra", "dec", "sky_centroid", "l", "b", "mag", "id", "col1"]) | st.text(
    string.ascii_letters, min_size=1, max_size=6)
_COLUMN = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6),
    st.lists(st.integers(-10**9, 10**9), max_size=6),
    st.lists(st.text(string.printable, max_size=5), max_size=6),
    st.lists(st.booleans(), max_size=6),
)
_TABLE = st.dictionaries(_COLNAMES, _COLUMN, min_size=0, max_size=5)
_FORMATS = {"ecsv": "ascii.ecsv", "csv": "ascii.csv", "fits": "fits", "txt": "ascii.commented_header"}


def _table_file(workdir, cols, ext, unit):
    import astropy.units as u
    from astropy.table import Table

    n = min((len(v) for v in cols.values()), default=0)
    t = Table({k: np.asarray(v[:n]) for k, v in cols.items()})
    if unit is not None:
        for c in t.colnames:
            if t[c].dtype.kind == "f":
                t[c].unit = getattr(u, unit)
    path = workdir / f"fuzz_cat.{ext}"
    try:
        t.write(path, format=_FORMATS[ext], overwrite=True)
    except Exception:  # astropy cannot write every random table in every format
        assume(False)
    return path


@FUZZ
@given(cols=_TABLE, ext=st.sampled_from(sorted(_FORMATS)), unit=st.sampled_from([None, "deg", "arcsec", "m"]))
def test_custom_catalog_from_random_tables(workdir, cols, ext, unit):
    path = _table_file(workdir, cols, ext, unit)
    with clean_errors_only():
        t = custom.read_custom_catalog(path)
        assert {"x", "y"} <= set(t.colnames)
        assert np.all(np.isfinite(t["x"])) and np.all(np.isfinite(t["y"]))


@FUZZ
@given(cols=_TABLE, ext=st.sampled_from(sorted(_FORMATS)), unit=st.sampled_from([None, "deg", "arcsec", "m"]))
def test_refcat_from_random_tables(workdir, cols, ext, unit):
    path = _table_file(workdir, cols, ext, unit)
    with clean_errors_only():
        t = refcat_files.read_refcat(path)
        assert {"RA", "DEC"} <= set(t.colnames)
        assert np.all(np.isfinite(t["RA"])) and np.all(np.isfinite(t["DEC"]))


@FUZZ
@given(content=_TEXT | _BYTES, ext=st.sampled_from(["ecsv", "csv", "fits", "xml", "txt", "cat"]))
def test_catalogs_from_random_content(workdir, content, ext):
    path = _write(workdir, f"raw_cat.{ext}", content)
    with clean_errors_only():
        custom.read_custom_catalog(path)
    with clean_errors_only():
        refcat_files.read_refcat(path)


@pytest.mark.parametrize("sign,expected", [("", 0), ("-", 64 * 64)])
def test_region_far_larger_than_the_chip(workdir, sign, expected):
    """A circle of 1e6 px radius covers the chip: included, nothing is excluded; excluded, all is."""
    path = _write(workdir, "huge.reg", f"image\n{sign}circle(10,10,1000000)\n")
    mask = exclusions.region_mask(path, (64, 64))
    assert int(mask.sum()) == expected


@pytest.mark.parametrize("text", ["x,y\n1,2\n3,abc\n", "x,y\n1,2\n3,\n"])
def test_custom_catalog_columns_must_be_numbers(workdir, text):
    path = _write(workdir, "words.csv", text)
    if "abc" in text:
        with pytest.raises(InputError, match="column 'y' is not numeric"):
            custom.read_custom_catalog(path)
    else:  # an empty cell is a missing value: that row is dropped
        t = custom.read_custom_catalog(path)
        assert list(t["x"]) == [1.0] and list(t["y"]) == [2.0]


# ------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def small_fits(workdir):
    from astropy.io import fits
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [16.0, 16.0]
    w.wcs.cdelt = [-1e-5, 1e-5]
    sci = fits.ImageHDU(np.arange(32 * 32, dtype=np.float32).reshape(32, 32), header=w.to_header(), name="SCI")
    path = workdir / "small_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(path, overwrite=True)
    return path.read_bytes()


@FEW
@given(cut=st.integers(0, 3 * 2880 + 4096), edits=st.lists(
    st.tuples(st.integers(0, 3 * 2880 + 4096), st.binary(min_size=1, max_size=8)), max_size=4))
def test_damaged_fits_images(workdir, small_fits, cut, edits):
    """A cut or overwritten FITS file reads, or is refused with one line; never another error."""
    data = bytearray(small_fits[: max(cut, 1)] if cut < len(small_fits) else small_fits)
    for pos, b in edits:
        if pos < len(data):
            data[pos: pos + len(b)] = b
    path = _write(workdir, "damaged_flt.fits", bytes(data))
    with clean_errors_only():
        exp = inputs.read_fits_exposure(path)
        for chip in exp.chips:
            pix, mask = inputs.read_pixels(exp, chip)
            assert pix.shape == mask.shape == tuple(chip.shape)
