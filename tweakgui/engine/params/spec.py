"""The parameter model: names and defaults of jwst's TweakRegStep spec.

One :class:`TweakRegParams` holds every parameter of a run.  Each parameter is
described once in :data:`SPEC` (type, default, allowed values, bounds, group and
description); validation, the command line, the GUI's settings panel and the
generated parameter reference are all derived from it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ParamSpec",
    "SPEC",
    "SPEC_BY_NAME",
    "GROUPS",
    "TWEAKGUI_ONLY",
    "TweakRegParams",
    "ParameterError",
    "FITGEOMS",
    "coerce",
    "PIXEL_UNIT_NAMES",
    "pixel_unit_names",
    "resolve_pixel_units",
]

FITGEOMS = ("shift", "rshift", "rscale", "general")


class ParameterError(ValueError):
    """A parameter has a bad name, type or value; the message names it (one line)."""

    def __init__(self, message="", *args):
        from tweakgui.engine.model import one_line

        super().__init__(one_line(message), *args)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # bool, int, float, str, list (float list)
    default: Any
    group: str
    doc: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    # min is exclusive (value must be > min) rather than inclusive
    min_exclusive: bool = False
    allow_none: bool = False
    # starfinders for which the parameter matters (GUI shows only those); None = all
    finders: tuple[str, ...] | None = None


_DAO = ("dao", "iraf")
_SEG = ("segmentation",)
_P = ParamSpec

SPEC: tuple[ParamSpec, ...] = (
    # catalogs
    _P("save_catalogs", bool, False, "catalogs",
       "Write the source catalog of every input image next to the outputs"),
    _P("save_match_files", bool, False, "catalogs",
       "Write drizzlepac's match files: per image, <root>_catalog_fit.match (relative fit) and "
       "<root>_abs_catalog_fit.match (absolute fit), and with expand_refcat the expanded reference "
       "catalog tweakreg_expanded_refcat.<ext>; drizzlepac's writecat turns it on; tweakgui only"),
    _P("use_custom_catalogs", bool, False, "catalogs",
       "Use user-provided source catalogs (from catfile or the ASN's tweakreg_catalog) "
       "instead of detecting sources"),
    _P("catalog_format", str, "ecsv", "catalogs",
       "Format of the written source catalogs: any astropy.table writer format (ecsv, fits, ...)"),
    _P("catfile", str, "", "catalogs",
       "Text file listing custom catalogs: an image name and its catalog name per line, "
       "paths relative to the catfile (used with use_custom_catalogs)"),
    # finder
    _P("starfinder", str, "iraf", "finder",
       "Source finder: dao (DAOStarFinder), iraf (IRAFStarFinder), segmentation "
       "(photutils SourceFinder) or sep (SExtractor-like, tweakgui only)",
       choices=("dao", "iraf", "segmentation", "sep")),
    _P("snr_threshold", float, 10.0, "finder",
       "Detection threshold in units of the background RMS",
       min=0, min_exclusive=True),
    _P("bkg_boxsize", int, 400, "background",
       "Box size of the background mesh, pixels", min=1),
    _P("kernel_fwhm", float, 2.5, "finder",
       "FWHM of the Gaussian detection kernel, pixels", min=0, min_exclusive=True),
    _P("minsep_fwhm", float, 0.0, "finder",
       "Minimum separation between detected sources, in units of kernel_fwhm",
       min=0, finders=_DAO),
    _P("sigma_radius", float, 1.5, "finder",
       "Truncation radius of the Gaussian kernel, in units of its sigma",
       min=0, min_exclusive=True, finders=_DAO),
    _P("sharplo", float, 0.5, "finder",
       "Reject sources with a sharpness below this", finders=_DAO),
    _P("sharphi", float, 2.0, "finder",
       "Reject sources with a sharpness above this", finders=_DAO),
    _P("roundlo", float, 0.0, "finder",
       "Reject sources with a roundness below this", finders=_DAO),
    _P("roundhi", float, 0.2, "finder",
       "Reject sources with a roundness above this", finders=_DAO),
    _P("brightest", int, 200, "finder",
       "Keep only the N brightest sources of each image (None keeps all)",
       min=0, allow_none=True),
    _P("peakmax", float, None, "finder",
       "Reject sources whose peak pixel value is >= peakmax, e.g. saturated stars "
       "(None: no limit)", allow_none=True),
    _P("npixels", int, 10, "finder",
       "Minimum number of connected pixels above the threshold for a source",
       min=1, finders=_SEG + ("sep",)),
    _P("connectivity", int, 8, "finder",
       "Pixel connectivity of a segment: 4 (edges) or 8 (edges and corners)",
       choices=(4, 8), finders=_SEG),
    _P("nlevels", int, 32, "finder",
       "Number of multi-thresholding levels used for deblending",
       min=1, finders=_SEG + ("sep",)),
    _P("contrast", float, 0.001, "finder",
       "Fraction of the total source flux a local peak must have to be deblended "
       "as a separate source (0 to 1)",
       min=0, max=1, finders=_SEG + ("sep",)),
    _P("multithresh_mode", str, "exponential", "finder",
       "Spacing of the deblending thresholds",
       choices=("exponential", "linear", "sinh"), finders=_SEG),
    _P("localbkg_width", int, 0, "finder",
       "Width of the rectangular annulus used for a local background around each "
       "source, pixels (0: no local background)", min=0, finders=_SEG),
    _P("apermask_method", str, "correct", "finder",
       "How neighbouring sources in the Kron aperture are handled: correct "
       "(replace by mirrored pixels), mask or none",
       choices=("correct", "mask", "none"), finders=_SEG),
    _P("kron_params", list, None, "finder",
       "Kron aperture parameters: scaling factor, minimum radius [, minimum circular "
       "radius] (None: photutils' default)", allow_none=True, finders=_SEG),
    _P("deblend", bool, True, "finder",
       "Deblend overlapping sources", finders=_SEG),
    # relative alignment
    _P("enforce_user_order", bool, False, "matching",
       "Align the images in the order given, the first one being the reference, "
       "rather than starting from the image with the largest overlap"),
    _P("expand_refcat", bool, False, "matching",
       "Add the sources of each aligned image to the reference catalog used for the next"),
    _P("minobj", int, 15, "matching",
       "Minimum number of matched sources for a fit; fewer fails the image", min=1),
    _P("searchrad", float, 2.0, "matching",
       "Search radius for a match, arcsec", min=0, min_exclusive=True),
    _P("use2dhist", bool, True, "matching",
       "Find the initial offset from a 2D histogram of all pair offsets"),
    _P("separation", float, 1.0, "matching",
       "Minimum separation between sources of one catalog, arcsec; closer pairs are "
       "dropped (must exceed sqrt(2) * tolerance)", min=0),
    _P("tolerance", float, 0.7, "matching",
       "Matching tolerance after the initial offset is applied, arcsec",
       min=0, min_exclusive=True),
    _P("xoffset", float, 0.0, "matching",
       "Initial guess of the X offset, arcsec (used when use2dhist is off)"),
    _P("yoffset", float, 0.0, "matching",
       "Initial guess of the Y offset, arcsec (used when use2dhist is off)"),
    _P("fitgeometry", str, "rshift", "fit",
       "Fit geometry: shift; rshift (shift and rotation); rscale (shift, rotation "
       "and scale); general (full affine)", choices=FITGEOMS),
    _P("nclip", int, 3, "fit",
       "Number of sigma-clipping iterations of the fit", min=0),
    _P("sigma", float, 3.0, "fit",
       "Clipping limit of the fit residuals, in units of their sigma",
       min=0, min_exclusive=True),
    # absolute alignment
    _P("abs_refcat", str, "", "absolute",
       "Absolute reference catalog: a file with RA/DEC columns, or GAIADR1, GAIADR2, "
       "GAIADR3 or GAIAREFCAT; empty: no absolute alignment"),
    _P("save_abs_catalog", bool, False, "absolute",
       "Write the absolute reference catalog that was used"),
    _P("abs_minobj", int, 15, "absolute",
       "Minimum number of matched sources for the absolute fit", min=1),
    _P("abs_searchrad", float, 6.0, "absolute",
       "Search radius for a match to the reference catalog, arcsec",
       min=0, min_exclusive=True),
    _P("abs_use2dhist", bool, True, "absolute",
       "Find the initial offset to the reference catalog from a 2D histogram "
       "(otherwise no initial offset)"),
    _P("abs_separation", float, 1.0, "absolute",
       "Minimum separation between sources for the absolute match, arcsec "
       "(must exceed sqrt(2) * abs_tolerance)", min=0),
    _P("abs_tolerance", float, 0.7, "absolute",
       "Matching tolerance of the absolute match, arcsec", min=0, min_exclusive=True),
    _P("abs_fitgeometry", str, "rshift", "absolute",
       "Fit geometry of the absolute fit: shift, rshift, rscale or general", choices=FITGEOMS),
    _P("abs_nclip", int, 3, "absolute",
       "Number of sigma-clipping iterations of the absolute fit", min=0),
    _P("abs_sigma", float, 3.0, "absolute",
       "Clipping limit of the absolute fit residuals, in units of their sigma",
       min=0, min_exclusive=True),
    _P("abs_mode", str, "visit", "absolute",
       "Fit the whole visit to the reference catalog at once (visit, as jwst) or each "
       "exposure group on its own (group); tweakgui only",
       choices=("visit", "group")),
    # reference catalog: columns, selection, proper motions, epochs and weights (tweakgui only)
    _P("abs_refcat_racol", str, "", "refcat",
       "RA column of the abs_refcat file: a name (any case) or a 1-based column number; "
       "empty: recognise RA, RA_ICRS, RAJ2000 and the like (or l/b, sky_centroid)"),
    _P("abs_refcat_deccol", str, "", "refcat",
       "Dec column of the abs_refcat file: a name (any case) or a 1-based column number; "
       "empty: recognise DEC, DE_ICRS, DEJ2000 and the like"),
    _P("abs_refcat_magcol", str, "", "refcat",
       "Magnitude column of the abs_refcat file: a name (any case) or a 1-based column "
       "number; empty: recognise mag, phot_g_mean_mag, Gmag and the like"),
    _P("abs_refcat_minmag", float, None, "refcat",
       "Bright limit of the reference sources, mag: brighter sources (smaller magnitudes) are "
       "dropped, e.g. saturated in the images (None: no limit)", allow_none=True),
    _P("abs_refcat_maxmag", float, None, "refcat",
       "Faint limit of the reference sources, mag: fainter sources are dropped, e.g. too faint "
       "to be detected (None: no limit)", allow_none=True),
    _P("abs_refcat_nbright", int, None, "refcat",
       "Keep only the N brightest reference sources over the visit, after the magnitude limits "
       "(None keeps all)", min=1, allow_none=True),
    _P("abs_refcat_errcols", str, "", "refcat",
       "Position error columns of the abs_refcat file, 'RA_ERR,DEC_ERR' or one column for both "
       "axes, in mas unless the column has a unit; empty: recognise ra_error,dec_error (Gaia), "
       "raErr,decErr, e_RA_ICRS,e_DE_ICRS and the like"),
    _P("abs_pm_policy", str, "drop_no_pm", "refcat",
       "Proper motions of the reference catalog (pmra, pmdec): drop_no_pm moves every source to "
       "each exposure's epoch and drops sources without proper motion; keep_no_pm keeps those "
       "unmoved (jwst's behaviour); ignore uses the catalog positions as they are",
       choices=("drop_no_pm", "keep_no_pm", "ignore")),
    _P("abs_max_pm_error", float, None, "refcat",
       "Drop reference sources whose proper-motion error (pmra_error or pmdec_error) exceeds "
       "this, mas/yr (None: no cut)", min=0, min_exclusive=True, allow_none=True),
    _P("abs_epoch", float, None, "refcat",
       "Epoch to move the reference catalog to for every image, decimal year (None: each "
       "exposure's own observation date)", min=1000, max=3000, allow_none=True),
    _P("abs_weights", str, "none", "refcat",
       "Weights of the absolute fit: none (equal, or the catalogs' weight columns); errors: "
       "1/(sigma_ref^2 + sigma_img^2 + abs_weight_floor^2) from the reference position errors "
       "at the exposure's epoch and the image catalog's centroid errors (x_err, y_err) if any",
       choices=("none", "errors")),
    _P("abs_weight_floor", float, 2.0, "refcat",
       "Error added in quadrature to every match when abs_weights is errors (distortion and "
       "other errors neither catalog states), mas", min=0, min_exclusive=True),
    # SIP approximation of a GWCS (JWST outputs)
    _P("sip_approx", bool, True, "sip",
       "Store a FITS SIP approximation of the new GWCS in the output header"),
    _P("sip_max_pix_error", float, 0.01, "sip",
       "Maximum error of the forward SIP fit, pixels", min=0, min_exclusive=True),
    _P("sip_degree", int, None, "sip",
       "Degree of the forward SIP polynomial (None: the best fit up to 6)",
       min=1, max=6, allow_none=True),
    _P("sip_max_inv_pix_error", float, 0.01, "sip",
       "Maximum error of the inverse SIP fit, pixels", min=0, min_exclusive=True),
    _P("sip_inv_degree", int, None, "sip",
       "Degree of the inverse SIP polynomial (None: the best fit up to 6)",
       min=1, max=6, allow_none=True),
    _P("sip_npoints", int, 12, "sip",
       "Number of grid points per axis used for the SIP fit", min=8),
    # drizzlepac options
    _P("exclusions", str, "", "drizzlepac",
       "Exclusions file as in drizzlepac: one line per image with a DS9 region file "
       "or FITS mask (0 = bad) per chip; sources there are ignored"),
    _P("wcsname", str, "TWEAK", "drizzlepac",
       "WCSNAME of the updated WCS; the previous WCS is kept as an alternate WCS"),
    _P("pixel_units", str, "", "drizzlepac",
       "Parameters whose values are in pixels of the reference image (a comma list of "
       "searchrad, separation, tolerance, xoffset, yoffset and their abs_ forms), converted to "
       "arcsec with its pixel scale when the run starts; set by drizzlepac cfg files; "
       "tweakgui only"),
    _P("reject_large_corrections", float, 0.0, "fit",
       "Reject a fit that moves any part of an image by more than this many arcsec; "
       "0 uses jwst's rule, 2 × (searchrad + tolerance) (with use2dhist) or "
       "2 × (largest offset + tolerance) without it; tweakgui only",
       min=0),
)

# Parameters (and option values) that jwst's TweakRegStep does not know: files
# written for jwst keep them apart (see paramfiles.save_asdf_pars).
TWEAKGUI_ONLY: tuple[str, ...] = (
    "abs_mode", "exclusions", "wcsname", "reject_large_corrections", "pixel_units",
    "abs_refcat_racol", "abs_refcat_deccol", "abs_refcat_magcol", "abs_refcat_minmag", "abs_refcat_maxmag",
    "abs_refcat_nbright", "abs_refcat_errcols", "abs_pm_policy", "abs_max_pm_error", "abs_epoch",
    "abs_weights", "abs_weight_floor", "save_match_files")
TWEAKGUI_ONLY_CHOICES: dict[str, tuple] = {"starfinder": ("sep",)}

SPEC_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in SPEC}

# lengths that drizzlepac gives in pixels (of its reference image) and TweakRegStep in arcsec
PIXEL_UNIT_NAMES: tuple[str, ...] = tuple(
    n for n in ("searchrad", "separation", "tolerance", "xoffset", "yoffset", "abs_searchrad",
                "abs_separation", "abs_tolerance") if n in SPEC_BY_NAME)
GROUPS = tuple(dict.fromkeys(p.group for p in SPEC))

_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def coerce(name: str, value: Any) -> Any:
    """Convert ``value`` (possibly a string from a CLI or cfg file) to the type of ``name``."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        raise ParameterError(f"unknown parameter '{name}'")
    if spec.type is str and isinstance(value, str) and value.strip() in (spec.choices or ()):
        return value.strip()  # e.g. apermask_method='none' is an option, not None
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if spec.allow_none:
            return None
        if spec.type is str:
            return ""
        raise ParameterError(f"{name} must not be None")
    try:
        if spec.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            s = str(value).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if spec.type is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(str(value).strip())
        if spec.type is float:
            if isinstance(value, bool):
                raise ValueError
            v = float(str(value).strip()) if isinstance(value, str) else float(value)
            if math.isnan(v):
                raise ValueError
            return v
        if spec.type is list:
            if isinstance(value, str):
                items = [s for s in value.replace(",", " ").split() if s]
            else:
                items = list(value)
            return [float(v) for v in items]
        # str
        if not isinstance(value, str):
            raise ValueError
        return value.strip()
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be {_typename(spec)}, got {value!r}"
        ) from None


def _typename(spec: ParamSpec) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list of numbers"}[spec.type]


def _check(spec: ParamSpec, value: Any) -> None:
    name = spec.name
    if value is None:
        if not spec.allow_none:
            raise ParameterError(f"{name} must not be None")
        return
    if spec.choices is not None and value not in spec.choices:
        opts = ", ".join(repr(c) for c in spec.choices)
        raise ParameterError(f"{name} must be one of {opts}, got {value!r}")
    if spec.type in (int, float):
        if spec.min is not None:
            if spec.min_exclusive and not value > spec.min:
                raise ParameterError(f"{name} must be > {spec.min:g}, got {value!r}")
            if not spec.min_exclusive and value < spec.min:
                raise ParameterError(f"{name} must be >= {spec.min:g}, got {value!r}")
        if spec.max is not None and value > spec.max:
            raise ParameterError(f"{name} must be <= {spec.max:g}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value) and spec.name != "peakmax":
            raise ParameterError(f"{name} must be finite, got {value!r}")
    if spec.type is list and value is not None and not (2 <= len(value) <= 3):
        raise ParameterError(f"{name} must have 2 or 3 numbers, got {len(value)}")


def _make_dataclass():
    fields = []
    for s in SPEC:
        default = s.default
        if isinstance(default, list):
            fields.append((s.name, Any, field(default_factory=lambda d=default: list(d))))
        else:
            fields.append((s.name, Any, field(default=default)))
    return fields


@dataclass
class _Base:
    pass


TweakRegParamsBase = dataclasses.make_dataclass("TweakRegParamsBase", _make_dataclass(), bases=(_Base,))


class TweakRegParams(TweakRegParamsBase):
    """All parameters of an alignment run, validated at construction.

    Keyword arguments are coerced to the parameter's type (strings such as
    ``"5"`` or ``"true"`` are accepted, as they come from files and the
    command line).  A bad name, type or value raises :class:`ParameterError`
    whose message names the parameter.
    """

    def __init__(self, **kwargs):
        unknown = [k for k in kwargs if k not in SPEC_BY_NAME]
        if unknown:
            raise ParameterError(f"unknown parameter '{unknown[0]}'")
        coerced = {k: coerce(k, v) for k, v in kwargs.items()}
        super().__init__(**coerced)
        self.validate()

    def validate(self) -> None:
        for s in SPEC:
            _check(s, getattr(self, s.name))
        in_pixels = pixel_unit_names(self)
        stages = (("", self.separation, self.tolerance, self.searchrad),
                  ("abs_", self.abs_separation, self.abs_tolerance, self.abs_searchrad))
        for prefix, sep, tol, searchrad in stages:
            if (f"{prefix}separation" in in_pixels) != (f"{prefix}tolerance" in in_pixels):
                continue  # one in pixels, one in arcsec: checked once both are in arcsec
            if sep <= math.sqrt(2) * tol:
                raise ParameterError(
                    f"{prefix}separation ({sep:g}) must be > sqrt(2) * {prefix}tolerance "
                    f"({math.sqrt(2) * tol:.4g})"
                )
            if searchrad <= 0:
                raise ParameterError(f"{prefix}searchrad must be > 0")
        lo, hi = self.abs_refcat_minmag, self.abs_refcat_maxmag
        if lo is not None and hi is not None and lo > hi:
            raise ParameterError(f"abs_refcat_minmag ({lo:g}, the bright limit) must be <= "
                                 f"abs_refcat_maxmag ({hi:g}, the faint limit)")

    def replace(self, **changes) -> "TweakRegParams":
        d = self.to_dict()
        d.update(changes)
        return TweakRegParams(**d)

    def to_dict(self) -> dict[str, Any]:
        return {s.name: (list(v) if isinstance(v := getattr(self, s.name), list) else v) for s in SPEC}

    def changed(self) -> dict[str, Any]:
        """Parameters whose value differs from the default."""
        return {k: v for k, v in self.to_dict().items() if v != SPEC_BY_NAME[k].default}

    def __eq__(self, other):
        return isinstance(other, TweakRegParams) and self.to_dict() == other.to_dict()

    def __repr__(self):
        ch = ", ".join(f"{k}={v!r}" for k, v in self.changed().items())
        return f"TweakRegParams({ch})"


def pixel_unit_names(params) -> list[str]:
    """The names listed in ``params.pixel_units``, checked.

    Raises
    ------
    ParameterError
        A name that is not a length drizzlepac gives in pixels.
    """
    names = [n.strip() for n in str(getattr(params, "pixel_units", "") or "").replace(" ", ",").split(",")]
    names = list(dict.fromkeys(n for n in names if n))
    bad = [n for n in names if n not in PIXEL_UNIT_NAMES]
    if bad:
        raise ParameterError(f"pixel_units: '{bad[0]}' is not one of {', '.join(PIXEL_UNIT_NAMES)}")
    return names


def resolve_pixel_units(params: TweakRegParams, pixel_scale_arcsec: float) -> TweakRegParams:
    """Convert the parameters listed in ``pixel_units`` from pixels to arcsec.

    Call once the pixel scale of the reference image is known (drizzlepac measures these
    lengths in its reference image's pixels).

    Parameters
    ----------
    params : TweakRegParams
    pixel_scale_arcsec : float
        The reference image's pixel scale, arcsec per pixel.

    Returns
    -------
    TweakRegParams
        ``params`` itself when ``pixel_units`` is empty; otherwise a copy whose listed values
        are multiplied by ``pixel_scale_arcsec`` and whose ``pixel_units`` is empty, so that
        calling it again changes nothing.

    Raises
    ------
    ParameterError
        ``pixel_scale_arcsec`` is not a positive finite number, or the converted values break
        a rule (the message names the parameter, its pixel value and the scale).
    """
    names = pixel_unit_names(params)
    if not names:
        return params
    try:
        scale = float(pixel_scale_arcsec)
    except (TypeError, ValueError):
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise ParameterError(f"pixel scale must be > 0 arcsec to convert {', '.join(names)} from pixels, "
                             f"got {pixel_scale_arcsec!r}")
    changes = {n: getattr(params, n) * scale for n in names}
    try:
        return params.replace(pixel_units="", **changes)
    except ParameterError as exc:
        given = ", ".join(f"{n} = {getattr(params, n):g} px" for n in names)
        raise ParameterError(f"{exc} ({given} at {scale:g}\"/px)") from None
