"""Names other tools give to our parameters, and their translation.

One table per origin: drizzlepac's ``TweakReg`` (TEAL ``tweakreg.cfg`` and
``imagefindpars.cfg``), the per-visit cfg files of CEERS, and names of old jwst
versions.  The loaders of :mod:`.paramfiles` translate with them and the
parameter reference of :mod:`.paramdoc` prints them, so both stay in step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tweakgui.engine.params.spec import SPEC_BY_NAME

__all__ = [
    "Alias",
    "DRIZZLEPAC_ALIASES",
    "CEERS_ALIASES",
    "JWST_LEGACY_ALIASES",
    "CFG_ALIASES",
    "STPIPE_GENERIC",
    "translate",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alias:
    """``source`` (another tool's name) means our ``target``; ``None``: no equivalent.

    ``cli`` is what replaces a name that has no parameter (a command-line
    option or a fixed behaviour); ``note`` explains differences.
    """

    source: str
    target: str | None
    note: str = ""
    cli: str = ""


_PIX = ("pixels in drizzlepac: a drizzlepac cfg's value is converted with the reference image's "
        "pixel scale (pixel_units)")
_A = Alias

DRIZZLEPAC_ALIASES: tuple[Alias, ...] = (
    # tweakreg.cfg
    _A("input", None, "", "INPUT ... arguments"),
    _A("refimage", None, "list the reference image first and set enforce_user_order"),
    _A("expand_refcat", "expand_refcat"),
    _A("enforce_user_order", "enforce_user_order", "drizzlepac's default is true"),
    _A("exclusions", "exclusions"),
    _A("writecat", "save_catalogs", "also sets save_match_files, as drizzlepac writes its match files with it"),
    _A("clean", None, "no intermediate files are written"),
    _A("interactive", None, "the GUI shows the plots interactively", "`tweakgui` (GUI)"),
    _A("verbose", None, "the log file has every message", "`--log FILE`"),
    _A("runfile", None, "", "`--log FILE`"),
    _A("updatehdr", None, "without it `<root>_tweakreg.fits` is written", "`--in_place`"),
    _A("wcsname", "wcsname"),
    _A("reusename", None, "the WCS named wcsname is always replaced"),
    _A("headerlet", None, "one headerlet file per image", "always written"),
    _A("attach", None, "headerlets are separate files"),
    _A("hdrfile", None, "", "`--output_dir`"),
    _A("clobber", None, "outputs are replaced"),
    _A("hdrname", None),
    _A("author", None),
    _A("descrip", None),
    _A("catalog", None, "the headerlet's CATALOG is abs_refcat"),
    _A("history", None),
    _A("shiftfile", None, "drizzlepac format, with its reference WCS file", "always written"),
    _A("outshifts", None, "", "`--output_dir`"),
    _A("outwcs", None, "", "`--output_dir`"),
    _A("catfile", "catfile", "also sets use_custom_catalogs"),
    _A("xcol", None, "columns x, y or xcentroid, ycentroid"),
    _A("ycol", None, "columns x, y or xcentroid, ycentroid"),
    _A("fluxcol", None, "an optional weight column"),
    _A("maxflux", None),
    _A("minflux", None),
    _A("fluxunits", None),
    _A("xyunits", None, "catalog positions are 0-based pixels"),
    _A("nbright", "brightest", "applies to detected sources"),
    _A("refcat", "abs_refcat"),
    _A("refxcol", "abs_refcat_racol", "a name or 1-based number; drizzlepac's default 1 (with refycol 2) is "
                                      "read as: recognise RA/DEC, else the first two columns"),
    _A("refycol", "abs_refcat_deccol", "see refxcol"),
    _A("refxyunits", None, "reference positions are in degrees"),
    _A("rfluxcol", "abs_refcat_magcol", "with rfluxunits = mag (drizzlepac's default); ignored with counts"),
    _A("rmaxflux", "abs_refcat_minmag", "rfluxunits = mag: the largest flux is the bright limit, the smallest "
                                        "magnitude kept; ignored with counts"),
    _A("rminflux", "abs_refcat_maxmag", "rfluxunits = mag: the smallest flux is the faint limit, the largest "
                                        "magnitude kept; ignored with counts"),
    _A("rfluxunits", None, "reference fluxes are magnitudes; counts: rfluxcol, rminflux and rmaxflux are "
                           "ignored with a warning"),
    _A("refnbright", "abs_refcat_nbright", "applied with or without magnitude limits (drizzlepac: only "
                                           "with flux limits)"),
    _A("minobj", "minobj"),
    _A("searchrad", "searchrad", "arcsec (drizzlepac: in searchunits)"),
    _A("searchunits", None, "pixels: searchrad is converted with the reference image's pixel scale "
                            "(pixel_units)"),
    _A("use2dhist", "use2dhist"),
    _A("see2dplot", None, "the GUI shows the 2D histogram"),
    _A("separation", "separation", _PIX),
    _A("tolerance", "tolerance", _PIX),
    _A("xoffset", "xoffset", _PIX),
    _A("yoffset", "yoffset", _PIX),
    _A("fitgeometry", "fitgeometry", "drizzlepac's default is rscale"),
    _A("residplot", None, "the GUI shows residual and vector plots"),
    _A("ylimit", None),
    _A("labelsize", None),
    _A("nclip", "nclip"),
    _A("sigma", "sigma"),
    # imagefindpars.cfg
    _A("computesig", None, "the background RMS is always measured (bkg_boxsize)"),
    _A("skysigma", None, "the background RMS is always measured (bkg_boxsize)"),
    _A("conv_width", "kernel_fwhm", "FWHM in pixels"),
    _A("peakmin", None),
    _A("peakmax", "peakmax"),
    _A("threshold", "snr_threshold"),
    _A("nsigma", "sigma_radius"),
    _A("ratio", None, "the kernel is circular"),
    _A("theta", None, "the kernel is circular"),
    _A("fluxmin", None),
    _A("fluxmax", None),
    _A("dqbits", None, "NaN and flagged pixels are always masked"),
    _A("use_sharp_round", None, "sharplo/hi and roundlo/hi always apply to dao and iraf"),
    _A("sharplo", "sharplo"),
    _A("sharphi", "sharphi"),
    _A("roundlo", "roundlo"),
    _A("roundhi", "roundhi"),
)

CEERS_ALIASES: tuple[Alias, ...] = (
    _A("fitgeom", "fitgeometry"),
    _A("abs_fitgeom", "abs_fitgeometry"),
    _A("detect_thresh", "snr_threshold",
       "SExtractor DETECT_THRESH, also in units of the background RMS; "
       "snr_threshold wins when both are given"),
    _A("detect_minarea", "npixels", "SExtractor DETECT_MINAREA; npixels wins when both are given"),
    _A("kernel_nsigma", "sigma_radius", "kernel size in units of sigma; matters for dao and iraf"),
    _A("deblend", None,
       "an integer is SExtractor's DEBLEND_NTHRESH (the nearest is nlevels) and is ignored; "
       "true/false is jwst's deblend"),
)

JWST_LEGACY_ALIASES: tuple[Alias, ...] = (
    _A("threshold", "snr_threshold", "older jwst"),
    _A("min_gaia", "abs_minobj", "older jwst"),
    _A("save_gaia_catalog", "save_abs_catalog", "older jwst"),
    _A("align_to_gaia", "abs_refcat", "older jwst: true means abs_refcat = gaia_catalog"),
    _A("gaia_catalog", "abs_refcat", "older jwst, used with align_to_gaia"),
)


def _merge(*tables) -> dict[str, Alias]:
    out: dict[str, Alias] = {}
    for table in tables:
        for alias in table:
            if alias.source not in SPEC_BY_NAME:
                out.setdefault(alias.source, alias)
    return out


CFG_ALIASES = _merge(CEERS_ALIASES, DRIZZLEPAC_ALIASES, JWST_LEGACY_ALIASES)
JWST_LEGACY = _merge(JWST_LEGACY_ALIASES)

# Keys every stpipe step has; they say nothing about the alignment.
STPIPE_GENERIC = frozenset({
    "input_dir", "output_dir", "skip", "save_results", "suffix", "search_output_file",
    "pre_hooks", "post_hooks", "output_file", "output_ext", "output_use_model",
    "output_use_index", "in_memory", "update_version", "vo_timeout", "catalog_path",
    "class", "name", "steps", "logcfg", "log_level",
})

_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "t", "f"}
_SHARPROUND = ("sharplo", "sharphi", "roundlo", "roundhi")


def translate(values: dict[str, Any], aliases, where: str, teal: bool = False) -> dict[str, Any]:
    """Map a file's keys to tweakgui names; log what is ignored or renamed.

    Parameters
    ----------
    values : dict
        The file's keys and raw values.
    aliases : dict or tuple of Alias
        Accepted foreign names.
    where : str
        The file (and section) named in log messages.
    teal : bool
        The values come from a drizzlepac TEAL file: apply its conventions.

    Returns
    -------
    dict
        tweakgui names to raw values.  A name given directly beats an alias.
    """
    if not isinstance(aliases, dict):
        aliases = _merge(aliases)
    values = {k.strip().lower(): v for k, v in values.items()}
    direct: dict[str, Any] = {}
    aliased: list[tuple[str, str, Any]] = []
    no_equivalent: list[str] = []
    values = _legacy_gaia(values, where)
    if teal:
        values = _teal_conventions(values, where)
    for key, value in values.items():
        if key.startswith("_") and key.endswith("_"):
            continue  # TEAL bookkeeping such as _task_name_
        if key == "deblend" and not _is_bool(value):
            log.warning("%s: 'deblend = %s' is SExtractor's DEBLEND_NTHRESH, not jwst's on/off "
                        "deblend: ignored (photutils' counterpart is nlevels)", where, value)
            continue
        if key in SPEC_BY_NAME:
            direct[key] = value
        elif key in STPIPE_GENERIC:
            log.debug("%s: stpipe option '%s' ignored", where, key)
        elif key in aliases and aliases[key].target:
            aliased.append((key, aliases[key].target, value))
        elif key in aliases:
            no_equivalent.append(key)
        else:
            log.warning("%s: unknown parameter '%s' ignored", where, key)
    if no_equivalent:
        log.warning("%s: no tweakgui equivalent, ignored: %s", where, ", ".join(no_equivalent))
    out = dict(direct)
    for key, target, value in aliased:
        if target in out:
            log.info("%s: '%s' ignored because '%s' is given", where, key, target)
            continue
        log.info("%s: '%s' read as '%s'", where, key, target)
        out[target] = value
    return out


def _legacy_gaia(values: dict[str, Any], where: str) -> dict[str, Any]:
    """jwst < 1.9 aligned to Gaia with align_to_gaia + gaia_catalog instead of abs_refcat."""
    if "align_to_gaia" not in values and "gaia_catalog" not in values:
        return values
    values = dict(values)
    align = values.pop("align_to_gaia", None)
    catalog = values.pop("gaia_catalog", None)
    on = align is True or str(align).strip().lower() in ("true", "yes", "on")
    if on and catalog and not str(values.get("abs_refcat") or "").strip():
        log.info("%s: old jwst align_to_gaia/gaia_catalog read as abs_refcat = %s", where, catalog)
        values["abs_refcat"] = catalog
    else:
        log.debug("%s: old jwst align_to_gaia = %s: no absolute alignment from it", where, align)
    return values


def _is_bool(value) -> bool:
    return isinstance(value, bool) or str(value).strip().lower() in _BOOL_WORDS


def _teal_conventions(values: dict[str, Any], where: str) -> dict[str, Any]:
    values = dict(values)
    if values.get("_task_name_", "").strip().lower() == "refimagefindpars":
        log.warning("%s: refimagefindpars read as the finder parameters of all images", where)
    if "writecat" in values and "save_match_files" not in values:
        values["save_match_files"] = values["writecat"]  # drizzlepac writes its match files with it
    if str(values.get("catfile", "")).strip() and "use_custom_catalogs" not in values:
        values["use_custom_catalogs"] = "true"
    if str(values.get("use_sharp_round", "false")).strip().lower() not in ("true", "yes"):
        for key in _SHARPROUND:
            if values.pop(key, None) is not None:
                log.debug("%s: '%s' ignored as use_sharp_round is off", where, key)
    values = _reference_fluxes(values, where)
    # drizzlepac measures these in its reference image's pixels: mark them, and the run
    # converts them with that image's pixel scale (params.resolve_pixel_units)
    units = str(values.pop("searchunits", "arcseconds")).strip().lower()
    if units not in ("arcseconds", "pixels"):
        log.warning("%s: searchunits = %s is neither arcseconds nor pixels: searchrad read in arcsec",
                    where, units)
    given = [k for k in ("searchrad", "separation", "tolerance", "xoffset", "yoffset")
             if k in values and (k != "searchrad" or units == "pixels")]
    if given and "pixel_units" not in values:
        values["pixel_units"] = ",".join(given)
        log.info("%s: %s in pixels as in drizzlepac, converted to arcsec with the reference "
                 "image's pixel scale", where, ", ".join(given))
    return values


def _reference_fluxes(values: dict[str, Any], where: str) -> dict[str, Any]:
    """drizzlepac's reference columns and flux limits in tweakgui's terms.

    With ``rfluxunits = mag`` (drizzlepac's default) the flux limits are
    magnitudes: ``rminflux`` (least flux) is the faint limit and ``rmaxflux``
    the bright one, which the aliases map to ``abs_refcat_maxmag`` and
    ``abs_refcat_minmag``.  In counts they have no equivalent.  The default
    columns ``refxcol = 1``, ``refycol = 2`` name no column: tweakgui recognises
    RA/DEC, and takes the first two columns of a table without a header.
    """
    values = dict(values)
    units = str(values.pop("rfluxunits", "mag")).strip().lower()
    if units != "mag":
        given = [k for k in ("rfluxcol", "rminflux", "rmaxflux")
                 if str(values.get(k, "")).strip().lower() not in ("", "none")]
        for k in ("rfluxcol", "rminflux", "rmaxflux"):
            values.pop(k, None)
        if given:
            log.warning("%s: rfluxunits = %s: reference flux limits in counts have no tweakgui equivalent, "
                        "ignored: %s (abs_refcat_minmag/maxmag take magnitudes)", where, units, ", ".join(given))
    if str(values.get("refxcol", "")).strip() == "1" and str(values.get("refycol", "")).strip() == "2":
        values.pop("refxcol")
        values.pop("refycol")
    return values
