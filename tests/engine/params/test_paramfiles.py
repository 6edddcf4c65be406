"""Parameter files (stpipe ASDF, INI cfg), their translation and CLI overrides."""

import logging
import shutil
import subprocess
import textwrap

import asdf
import pytest

from tweakgui.engine.model import InputError
from tweakgui.engine.params.files import (
    JWST_STEP_CLASS,
    cfg_sections,
    load_asdf_pars,
    load_cfg,
    parse_cli_overrides,
    resolve_params,
    save_asdf_pars,
    save_cfg,
)
from tweakgui.engine.params.spec import (
    SPEC,
    TWEAKGUI_ONLY,
    ParameterError,
    TweakRegParams,
)

CEERS_CFGS = "ceers-nircam/batch_scripts/tweakreg_cfgs"
JWST_NAMES = {s.name for s in SPEC} - set(TWEAKGUI_ONLY)

# CEERS cfgs whose abs_separation <= sqrt(2) * abs_tolerance (e.g. 0.5 <= 0.566, 0.4 <= 0.424)
CEERS_SQRT2_FAILURES = {
    "nircam1/f200w", "nircam1/f277w", "nircam1/f356w", "nircam1/f410m", "nircam1/f444w",
    "nircam2/f150w", "nircam3/f115w", "nircam3/f277w", "nircam3/f410m", "nircam6/f150w",
}

# What jwst 3.0's TweakRegStep().export_config() writes (defaults), trimmed of the history.
JWST_EXPORTED = """\
#ASDF 1.0.0
#ASDF_STANDARD 1.5.0
%YAML 1.1
%TAG ! tag:stsci.edu:asdf/
--- !core/asdf-1.1.0
class: jwst.tweakreg.tweakreg_step.TweakRegStep
name: TweakRegStep
parameters:
  abs_fitgeometry: rshift
  abs_minobj: 15
  abs_nclip: 3
  abs_refcat: ''
  abs_searchrad: 6.0
  abs_separation: 1.0
  abs_sigma: 3.0
  abs_tolerance: 0.7
  abs_use2dhist: true
  apermask_method: correct
  bkg_boxsize: 400
  brightest: 200
  catalog_format: ecsv
  catfile: ''
  connectivity: '8'
  contrast: 0.001
  deblend: true
  enforce_user_order: false
  expand_refcat: false
  fitgeometry: rshift
  in_memory: true
  input_dir: ''
  kernel_fwhm: 2.5
  kron_params: null
  localbkg_width: 0
  minobj: 15
  minsep_fwhm: 0.0
  multithresh_mode: exponential
  nclip: 3
  nlevels: 32
  npixels: 10
  output_dir: null
  output_ext: .fits
  output_file: null
  output_use_index: true
  output_use_model: true
  peakmax: null
  post_hooks: []
  pre_hooks: []
  roundhi: 0.2
  roundlo: 0.0
  save_abs_catalog: false
  save_catalogs: false
  save_results: false
  search_output_file: true
  searchrad: 2.0
  separation: 1.0
  sharphi: 2.0
  sharplo: 0.5
  sigma: 3.0
  sigma_radius: 1.5
  sip_approx: true
  sip_degree: null
  sip_inv_degree: null
  sip_max_inv_pix_error: 0.01
  sip_max_pix_error: 0.01
  sip_npoints: 12
  skip: false
  snr_threshold: 10.0
  starfinder: iraf
  suffix: null
  tolerance: 0.7
  use2dhist: true
  use_custom_catalogs: false
  xoffset: 0.0
  yoffset: 0.0
...
"""


def _write_asdf(path, tree):
    asdf.AsdfFile(tree).write_to(path)
    return path


def _unusual_params():
    return TweakRegParams(
        starfinder="sep", brightest=None, peakmax=45000.0, kron_params=[2.5, 1.4, 0.0],
        connectivity=4, apermask_method="none", abs_refcat="GAIADR3", sip_degree=3,
        separation=0.3, tolerance=0.2, xoffset=-0.25, catfile="cats.txt",
        use_custom_catalogs=True, wcsname="CEERS-FIT", abs_mode="group",
        exclusions="excl.txt", reject_large_corrections=0.0, deblend=False,
        abs_refcat_magcol="phot_g_mean_mag", abs_refcat_maxmag=19.5, abs_refcat_nbright=200,
        abs_pm_policy="keep_no_pm", abs_max_pm_error=0.5, abs_weights="errors", abs_weight_floor=3.0)


# ------------------------------------------------------------------ CEERS cfg


def test_ceers_cfg_translates_names(shared_data, caplog):
    path = shared_data / CEERS_CFGS / "nircam1/f115w.cfg"
    with caplog.at_level(logging.INFO):
        values = load_cfg(path)
    assert cfg_sections(path) == ["jw01345001001"]
    # snr_threshold = 2.5 wins over detect_thresh = 4; trailing spaces after 0.1 are ignored
    assert values == {
        "snr_threshold": 2.5, "bkg_boxsize": 100, "kernel_fwhm": 1.5, "sigma_radius": 5.0,
        "npixels": 16, "minobj": 20, "searchrad": 1.0, "separation": 0.2, "tolerance": 0.1,
        "nclip": 1, "sigma": 0.7, "abs_minobj": 20, "abs_searchrad": 1.0,
        "abs_separation": 0.6, "abs_tolerance": 0.4, "abs_fitgeometry": "rshift",
        "abs_nclip": 1, "abs_sigma": 0.6,
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'deblend = 4'" in w and "DEBLEND_NTHRESH" in w for w in warnings)
    assert any("'detect_thresh' ignored because 'snr_threshold' is given" in r.getMessage()
               for r in caplog.records)
    p = TweakRegParams(**values)  # 0.6 > sqrt(2) * 0.4 = 0.566: valid
    assert (p.abs_separation, p.abs_tolerance, p.abs_fitgeometry) == (0.6, 0.4, "rshift")


def test_every_ceers_cfg_loads_and_sqrt2_failures_are_named(shared_data):
    root = shared_data / CEERS_CFGS
    failures, n = set(), 0
    for path in sorted(root.glob("nircam*/f*.cfg")):
        for section in cfg_sections(path):
            n += 1
            values = load_cfg(path, section)
            assert values["abs_fitgeometry"] in ("rshift", "rscale")
            try:
                TweakRegParams(**values)
            except ParameterError as exc:
                assert str(exc).startswith("abs_separation (")
                assert "must be > sqrt(2) * abs_tolerance" in str(exc)
                failures.add(f"{path.parent.name}/{path.stem}")
    assert n == 30
    assert failures == CEERS_SQRT2_FAILURES


def test_ceers_sqrt2_failure_through_resolve_names_file(shared_data):
    path = shared_data / CEERS_CFGS / "nircam1/f200w.cfg"
    assert load_cfg(path)["abs_separation"] == 0.5  # the raw dict loads
    with pytest.raises(ParameterError) as err:
        resolve_params(path)
    assert str(err.value) == (f"{path}: abs_separation (0.5) must be > sqrt(2) * "
                              "abs_tolerance (0.5657)")
    p = resolve_params(path, overrides={"abs_tolerance": "0.3"})
    assert (p.abs_separation, p.abs_tolerance, p.separation, p.tolerance) == (0.5, 0.3, 0.1, 0.05)


def test_ceers_multi_section_file(shared_data):
    path = shared_data / CEERS_CFGS / "nircam2/f444w.cfg"
    assert cfg_sections(path) == ["jw01345002001", "jw01345052001"]
    with pytest.raises(ParameterError, match="several sections, choose one of: "
                                             "jw01345002001, jw01345052001"):
        load_cfg(path)
    assert load_cfg(path, "jw01345002001")["sigma"] == 0.6
    assert load_cfg(path, "jw01345052001")["sigma"] == 0.7
    with pytest.raises(ParameterError, match=r"no section \[jw0\] \(sections: jw01345002001, "):
        load_cfg(path, "jw0")
    assert resolve_params(path, "jw01345052001").abs_fitgeometry == "rscale"


# --------------------------------------------------------------- cfg general


def test_cfg_comments_quotes_root_keys_and_aliases(tmp_path, caplog):
    path = tmp_path / "visits.cfg"
    path.write_text(
        "# shared by all visits\n"
        "fitgeom = rscale   # inline comment\n"
        "conv_width = 3.0\n"
        "[visit1]\n"
        "threshold   = 6    \n"
        "refcat = 'my cat.ecsv'\n"
        "peakmax =\n"
        "use2dhist = no ; another comment\n"
        "[visit2]\n"
        "fitgeometry = general\n"
        "bogus = 1\n"
    )
    v1 = load_cfg(path, "visit1")
    assert v1 == {"snr_threshold": 6.0, "kernel_fwhm": 3.0, "peakmax": None, "use2dhist": False,
                  "fitgeometry": "rscale", "abs_refcat": "my cat.ecsv"}
    with caplog.at_level(logging.WARNING):
        v2 = load_cfg(path, "visit2")
    assert v2 == {"kernel_fwhm": 3.0, "fitgeometry": "general"}  # the direct name wins
    assert any("unknown parameter 'bogus'" in r.getMessage() for r in caplog.records)


def test_cfg_without_visit_sections(tmp_path):
    flat = tmp_path / "flat.cfg"
    flat.write_text("minobj = 12\nfitgeometry = shift\n")
    assert cfg_sections(flat) == []
    assert load_cfg(flat) == {"minobj": 12, "fitgeometry": "shift"}
    default = tmp_path / "default.ini"
    default.write_text("[DEFAULT]\nminobj = 13\n")
    assert cfg_sections(default) == []
    assert resolve_params(default).minobj == 13


def test_cfg_bad_files(tmp_path):
    with pytest.raises(InputError, match="missing.cfg: parameter file not found"):
        load_cfg(tmp_path / "missing.cfg")
    dup = tmp_path / "dup.cfg"
    dup.write_text("[a]\nminobj = 3\nminobj = 4\n")
    with pytest.raises(InputError, match=r"dup.cfg: not a valid cfg file \(.*minobj"):
        load_cfg(dup)
    bad = tmp_path / "bad.cfg"
    bad.write_text("[a]\nminobj = many\n")
    with pytest.raises(ParameterError, match=r"bad.cfg: minobj must be an integer, got 'many'"):
        load_cfg(bad)


def test_drizzlepac_teal_files(shared_data, caplog):
    pars = shared_data / "drizzlepac/pars"
    assert cfg_sections(pars / "tweakreg.cfg") == ["tweakreg"]
    with caplog.at_level(logging.INFO):
        tw = load_cfg(pars / "tweakreg.cfg")
    # drizzlepac's defaults: enforce_user_order on, rscale, separation 0.5 / tolerance 1.0 pixels
    assert tw["enforce_user_order"] is True and tw["fitgeometry"] == "rscale"
    assert tw["save_catalogs"] is True and tw["wcsname"] == "TWEAK"
    assert tw["save_match_files"] is True  # writecat writes drizzlepac's match files too
    assert (tw["searchrad"], tw["separation"], tw["tolerance"]) == (1.0, 0.5, 1.0)
    # searchunits = arcseconds: searchrad stays in arcsec; the others are drizzlepac's pixels
    assert tw["pixel_units"] == "separation,tolerance,xoffset,yoffset"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "in pixels" in messages and "updatehdr" in messages and "shiftfile" in messages
    assert "searchunits" not in messages  # understood, not ignored
    with pytest.raises(ParameterError, match=r"tweakreg.cfg: separation \(0.5\) must be > sqrt"):
        resolve_params(pars / "tweakreg.cfg")
    find = load_cfg(pars / "imagefindpars.cfg")
    assert find == {"snr_threshold": 4.0, "kernel_fwhm": 3.5, "sigma_radius": 1.5, "peakmax": None}


def test_cfg_round_trip(tmp_path):
    p = _unusual_params()
    path = save_cfg(p, tmp_path / "out" / "pars.cfg", "jw01345001001")
    assert cfg_sections(path) == ["jw01345001001"]
    assert load_cfg(path) == p.to_dict()
    assert TweakRegParams(**load_cfg(path)) == p
    d = save_cfg(TweakRegParams(), tmp_path / "d.cfg", "v")
    assert TweakRegParams(**load_cfg(d)) == TweakRegParams()


def test_save_cfg_keeps_other_sections(shared_data, tmp_path):
    path = tmp_path / "f200w.cfg"
    shutil.copy(shared_data / CEERS_CFGS / "nircam2/f200w.cfg", path)
    original = path.read_text()
    first_block = original[:original.index("[jw01345052001]")]
    p = TweakRegParams(**load_cfg(path, "jw01345052001")).replace(abs_sigma=0.5)
    save_cfg(p, path, "jw01345052001")
    text = path.read_text()
    assert text.startswith(first_block)  # comments and values of the other visit intact
    assert cfg_sections(path) == ["jw01345002001", "jw01345052001"]
    assert load_cfg(path, "jw01345052001")["abs_sigma"] == 0.5
    assert load_cfg(path, "jw01345002001") == load_cfg(
        shared_data / CEERS_CFGS / "nircam2/f200w.cfg", "jw01345002001")
    save_cfg(p, path, "new_visit")
    assert cfg_sections(path) == ["jw01345002001", "jw01345052001", "new_visit"]


def test_save_cfg_refuses_unwritable_values(tmp_path):
    with pytest.raises(ParameterError, match="catfile"):
        save_cfg(TweakRegParams(catfile="a #1.txt"), tmp_path / "x.cfg", "v")
    assert not (tmp_path / "x.cfg").exists()


# ----------------------------------------------------------------------- ASDF


def test_ceers_pipeline_asdf(shared_data, caplog):
    with caplog.at_level(logging.DEBUG, logger="tweakgui"):
        values = load_asdf_pars(shared_data / "ceers-nircam/image3_part1.asdf")
    # the tweakreg block of CEERS' Image3Pipeline file (jwst 1.7.2 names)
    assert values == {
        "save_catalogs": False, "catalog_format": "ecsv", "snr_threshold": 10.0,
        "kernel_fwhm": 1.628, "brightest": 200, "peakmax": None, "enforce_user_order": False,
        "expand_refcat": False, "minobj": 1000000, "searchrad": 2.0, "use2dhist": True,
        "separation": 2.0, "tolerance": 1.0, "xoffset": 0.0, "yoffset": 0.0,
        "fitgeometry": "shift", "nclip": 3, "sigma": 3.0, "save_abs_catalog": False,
        "abs_minobj": 5,
    }
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("stpipe option 'output_dir' ignored" in m for m in debug)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    for visit in ("nircam1", "nircam2", "nircam3", "nircam6"):
        v = load_asdf_pars(shared_data / f"ceers-nircam/batch_scripts/{visit}/image3_{visit}.asdf")
        assert v["kernel_fwhm"] == 1.444 and v["fitgeometry"] == "shift"


def test_pipeline_without_tweakreg_and_non_asdf(shared_data, tmp_path):
    path = shared_data / "ceers-nircam/image2_1.7.2.asdf"
    with pytest.raises(InputError, match=r"image2_1.7.2.asdf: pipeline parameter file has no "
                                         r"tweakreg step \(steps: bkg_subtract, assign_wcs"):
        load_asdf_pars(path)
    junk = tmp_path / "junk.asdf"
    junk.write_text("minobj = 3\n")
    with pytest.raises(InputError, match="junk.asdf: not a readable ASDF parameter file"):
        load_asdf_pars(junk)
    other = _write_asdf(tmp_path / "sky.asdf", {"class": "jwst.skymatch.SkyMatchStep",
                                                 "name": "skymatch", "parameters": {"skip": 1}})
    with pytest.raises(InputError, match="parameters of jwst.skymatch.SkyMatchStep"):
        load_asdf_pars(other)


def test_jwst_exported_pars_file(tmp_path):
    path = tmp_path / "tweakreg_pars.asdf"
    path.write_text(JWST_EXPORTED)
    values = load_asdf_pars(path)
    assert set(values) == JWST_NAMES
    assert values["connectivity"] == 8  # jwst writes option values as text
    assert TweakRegParams(**values) == TweakRegParams()


def test_legacy_names_and_unknown_keys(tmp_path, caplog):
    path = _write_asdf(tmp_path / "old.asdf", {
        "class": JWST_STEP_CLASS, "name": "tweakreg",
        "parameters": {"threshold": 7.0, "align_to_gaia": True, "gaia_catalog": "GAIADR2",
                       "min_gaia": 8, "save_gaia_catalog": True, "frobnicate": 1,
                       "output_dir": "x"}})
    with caplog.at_level(logging.WARNING):
        values = load_asdf_pars(path)
    assert values == {"snr_threshold": 7.0, "abs_refcat": "GAIADR2", "abs_minobj": 8,
                      "save_abs_catalog": True}
    assert [r.getMessage() for r in caplog.records] == [f"{path}: unknown parameter 'frobnicate' ignored"]
    legacy = _write_asdf(tmp_path / "legacy.asdf", {"parameters": {
        "class": "jwst.pipeline.Image3Pipeline", "name": "Image3Pipeline",
        "steps": {"tweakreg": {"class": JWST_STEP_CLASS, "minobj": 9}}}})
    assert load_asdf_pars(legacy) == {"minobj": 9}


def test_asdf_round_trip_and_layout(tmp_path):
    p = _unusual_params()
    path = save_asdf_pars(p, tmp_path / "pars.asdf")
    assert load_asdf_pars(path) == p.to_dict()
    with asdf.open(path) as af:
        tree = af.tree
        assert tree["class"] == JWST_STEP_CLASS and tree["name"] == "tweakreg"
        assert set(tree["parameters"]) == JWST_NAMES
        assert tree["parameters"]["starfinder"] == "segmentation"  # jwst has no 'sep'
        assert tree["parameters"]["connectivity"] == "4"
        assert tree["parameters"]["brightest"] is None
        assert dict(tree["tweakgui"]) == {
            "starfinder": "sep", "abs_mode": "group", "exclusions": "excl.txt",
            "wcsname": "CEERS-FIT", "reject_large_corrections": 0.0, "pixel_units": "",
            "abs_refcat_racol": "", "abs_refcat_deccol": "", "abs_refcat_magcol": "phot_g_mean_mag",
            "abs_refcat_minmag": None, "abs_refcat_maxmag": 19.5, "abs_refcat_nbright": 200,
            "abs_refcat_errcols": "", "abs_pm_policy": "keep_no_pm", "abs_max_pm_error": 0.5, "abs_epoch": None,
            "abs_weights": "errors", "abs_weight_floor": 3.0,
            "save_match_files": False}
    d = save_asdf_pars(TweakRegParams(), tmp_path / "defaults.asdf")
    assert TweakRegParams(**load_asdf_pars(d)) == TweakRegParams()


@pytest.mark.slow
def test_jwst_reads_our_asdf(tmp_path, peer_python):
    python = peer_python("jwst.tweakreg")
    p = _unusual_params()
    path = save_asdf_pars(p, tmp_path / "pars.asdf")
    code = (
        "import json, sys; from jwst.tweakreg import TweakRegStep;"
        "s = TweakRegStep.from_config_file(sys.argv[1]); pars = s.get_pars();"
        "print(json.dumps({k: pars[k] for k in sys.argv[2:]}))"
    )
    names = ["starfinder", "brightest", "peakmax", "kron_params", "connectivity",
             "apermask_method", "abs_refcat", "sip_degree", "separation", "tolerance",
             "xoffset", "deblend", "catfile", "use_custom_catalogs"]
    out = subprocess.run([str(python), "-W", "ignore", "-c", code, str(path), *names],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    expected = {k: p.to_dict()[k] for k in names}
    expected["starfinder"] = "segmentation"
    expected["connectivity"] = "4"
    assert theirs == expected


# ------------------------------------------------------ resolution and the CLI


def test_resolve_precedence(tmp_path):
    cfg = tmp_path / "p.cfg"
    cfg.write_text("[v]\nminobj = 20\nsearchrad = 1.0\nfitgeom = rscale\n")
    assert resolve_params() == TweakRegParams()
    p = resolve_params(cfg, overrides={"searchrad": "0.5", "nclip": "1"})
    assert (p.minobj, p.searchrad, p.fitgeometry, p.nclip, p.sigma) == (20, 0.5, "rscale", 1, 3.0)
    asdf_path = save_asdf_pars(p, tmp_path / "p.asdf")
    q = resolve_params(asdf_path, overrides={"minobj": "7"})
    assert q == p.replace(minobj=7)
    other = tmp_path / "pars.txt"
    shutil.copy(asdf_path, other)  # unknown extension: detected by content
    assert resolve_params(other) == p


def test_resolve_errors_name_the_culprit(tmp_path):
    with pytest.raises(InputError, match="nope.asdf: parameter file not found"):
        resolve_params(tmp_path / "nope.asdf")
    with pytest.raises(ParameterError, match=r"^--minobj: minobj must be an integer, got 'x'"):
        resolve_params(overrides={"minobj": "x"})
    with pytest.raises(ParameterError, match=r"^command line: separation \(0.5\) must be > sqrt"):
        resolve_params(overrides={"separation": "0.5"})
    cfg = tmp_path / "p.cfg"
    cfg.write_text("[v]\nseparation = 0.8\ntolerance = 0.5\n")
    assert resolve_params(cfg).separation == 0.8
    assert resolve_params(overrides={"tolerance": "0.6"}).tolerance == 0.6
    with pytest.raises(ParameterError, match=r"p.cfg with command-line overrides: separation "
                                             r"\(0.8\) must be > sqrt"):
        resolve_params(cfg, overrides={"tolerance": "0.6"})


def test_parse_cli_overrides():
    argv = ["align", "@images.lst", "--snr_threshold", "5", "--fitgeometry=rscale",
            "--use2dhist", "false", "--expand_refcat", "a.fits", "--output_dir", "out",
            "--xoffset", "-0.3", "--abs-refcat", "cat.ecsv", "--save_catalogs", "--",
            "--minobj", "3"]
    overrides, remaining = parse_cli_overrides(argv)
    assert overrides == {"snr_threshold": "5", "fitgeometry": "rscale", "use2dhist": "false",
                         "expand_refcat": "true", "xoffset": "-0.3", "abs_refcat": "cat.ecsv",
                         "save_catalogs": "true"}
    assert remaining == ["align", "@images.lst", "a.fits", "--output_dir", "out", "--",
                         "--minobj", "3"]
    p = resolve_params(overrides=overrides)
    assert (p.snr_threshold, p.use2dhist, p.expand_refcat, p.xoffset) == (5.0, False, True, -0.3)
    with pytest.raises(ParameterError, match="^--minobj needs a value"):
        parse_cli_overrides(["--minobj"])
    with pytest.raises(ParameterError, match="^--abs_refcat needs a value"):
        parse_cli_overrides(["--abs_refcat", "--minobj", "3"])
    assert parse_cli_overrides(["--minobj", "3", "--minobj=4"])[0] == {"minobj": "4"}


def _drizzlepac_cfg(path, searchunits="pixels", searchrad=40.0, separation=4.0, tolerance=2.0):
    path.write_text(textwrap.dedent(f"""\
        _task_name_ = tweakreg
        input = *flt.fits
        searchrad = {searchrad}
        searchunits = {searchunits}
        use2dhist = True
        separation = {separation}
        tolerance = {tolerance}
        fitgeometry = rscale
        """))
    return path


def test_drizzlepac_pixel_values_converted_with_the_pixel_scale(tmp_path):
    """A drizzlepac cfg in pixels, on HST/HRC (0.025"/px): searchrad 40 px = 1", separation
    4 px = 0.1", tolerance 2 px = 0.05"; the marker is gone once converted."""
    from tweakgui.engine.params.spec import resolve_pixel_units

    cfg = _drizzlepac_cfg(tmp_path / "tweakreg.cfg")
    params = resolve_params(cfg)
    assert params.pixel_units == "searchrad,separation,tolerance"
    assert (params.searchrad, params.separation, params.tolerance) == (40.0, 4.0, 2.0)
    hrc = resolve_pixel_units(params, 0.025)
    assert hrc.searchrad == pytest.approx(1.0, abs=1e-12)
    assert hrc.separation == pytest.approx(0.1, abs=1e-12)
    assert hrc.tolerance == pytest.approx(0.05, abs=1e-12)
    assert hrc.pixel_units == "" and resolve_pixel_units(hrc, 0.025) is hrc
    assert hrc.abs_separation == params.abs_separation == 1.0  # not listed: untouched
    # the same file on WFC3/IR pixels (0.128"/px) means five times larger lengths
    ir = resolve_pixel_units(params, 0.128)
    assert ir.searchrad == pytest.approx(5.12) and ir.tolerance == pytest.approx(0.256)
    # searchunits = arcseconds: searchrad is already arcsec
    arcsec = resolve_params(_drizzlepac_cfg(tmp_path / "a.cfg", searchunits="arcseconds", searchrad=1.5))
    assert arcsec.pixel_units == "separation,tolerance"
    assert resolve_pixel_units(arcsec, 0.025).searchrad == 1.5


def test_command_line_values_stay_in_arcsec(tmp_path):
    from tweakgui.engine.params.spec import resolve_pixel_units

    cfg = _drizzlepac_cfg(tmp_path / "tweakreg.cfg")
    params = resolve_params(cfg, overrides={"tolerance": "0.04"})
    assert params.pixel_units == "searchrad,separation"
    done = resolve_pixel_units(params, 0.025)
    assert done.tolerance == 0.04 and done.separation == pytest.approx(0.1)


def test_pixel_units_errors_name_the_cause(tmp_path):
    from tweakgui.engine.params.spec import resolve_pixel_units

    with pytest.raises(ParameterError, match="pixel_units: 'nclip' is not one of searchrad"):
        TweakRegParams(pixel_units="nclip")
    params = resolve_params(_drizzlepac_cfg(tmp_path / "t.cfg"))
    with pytest.raises(ParameterError, match="pixel scale must be > 0"):
        resolve_pixel_units(params, 0.0)
    # separation in pixels, tolerance in arcsec: the rule waits for the conversion, then names both
    mixed = TweakRegParams(separation=30.0, pixel_units="separation")
    with pytest.raises(ParameterError, match=r'separation \(0.75\) must be > sqrt.*separation = 30 px at 0.025"/px'):
        resolve_pixel_units(mixed, 0.025)


def test_pixel_units_round_trip_in_files(tmp_path):
    p = TweakRegParams(separation=4.0, tolerance=2.0, pixel_units="separation,tolerance")
    assert TweakRegParams(**load_cfg(save_cfg(p, tmp_path / "p.cfg", "v"))) == p
    assert TweakRegParams(**load_asdf_pars(save_asdf_pars(p, tmp_path / "p.asdf"))) == p
