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

__all__ = ["ParamSpec", "SPEC", "SPEC_BY_NAME", "TweakRegParams", "ParameterError", "FITGEOMS"]

FITGEOMS = ("shift", "rshift", "rscale", "general")


class ParameterError(ValueError):
    """A parameter has a bad name, type or value; the message names it."""


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
    _P("save_catalogs", bool, False, "catalogs", "Write out the source catalogs of the input images"),
    _P("use_custom_catalogs", bool, False, "catalogs", "Use custom user-provided source catalogs"),
    _P("catalog_format", str, "ecsv", "catalogs", "Catalog output file format (an astropy.table format)"),
    _P("catfile", str, "", "catalogs", "File listing custom catalogs: image name and catalog name per line"),
    # finder
    _P("starfinder", str, "iraf", "finder", "Source finder", choices=("dao", "iraf", "segmentation", "sep")),
    _P("snr_threshold", float, 10.0, "finder", "Detection threshold in units of background RMS", min=0, min_exclusive=True),
    _P("bkg_boxsize", int, 400, "background", "Background mesh box size in pixels", min=1),
    _P("kernel_fwhm", float, 2.5, "finder", "Gaussian kernel FWHM in pixels", min=0, min_exclusive=True),
    _P("minsep_fwhm", float, 0.0, "finder", "Minimum separation between detected objects in units of FWHM", min=0, finders=_DAO),
    _P("sigma_radius", float, 1.5, "finder", "Truncation radius of the Gaussian kernel in units of sigma", min=0, min_exclusive=True, finders=_DAO),
    _P("sharplo", float, 0.5, "finder", "Lower bound on sharpness", finders=_DAO),
    _P("sharphi", float, 2.0, "finder", "Upper bound on sharpness", finders=_DAO),
    _P("roundlo", float, 0.0, "finder", "Lower bound on roundness", finders=_DAO),
    _P("roundhi", float, 0.2, "finder", "Upper bound on roundness", finders=_DAO),
    _P("brightest", int, 200, "finder", "Keep the brightest N objects (None keeps all)", min=0, allow_none=True),
    _P("peakmax", float, None, "finder", "Reject objects with a peak pixel value >= peakmax", allow_none=True),
    _P("npixels", int, 10, "finder", "Minimum number of connected pixels of a source", min=1, finders=_SEG + ("sep",)),
    _P("connectivity", int, 8, "finder", "Pixel connectivity of a segment", choices=(4, 8), finders=_SEG),
    _P("nlevels", int, 32, "finder", "Number of multi-thresholding levels for deblending", min=1, finders=_SEG + ("sep",)),
    _P("contrast", float, 0.001, "finder", "Fraction of total flux a deblended object must have", min=0, max=1, finders=_SEG + ("sep",)),
    _P("multithresh_mode", str, "exponential", "finder", "Multi-thresholding mode for deblending",
       choices=("exponential", "linear", "sinh"), finders=_SEG),
    _P("localbkg_width", int, 0, "finder", "Width of the local-background annulus around each source (0: none)", min=0, finders=_SEG),
    _P("apermask_method", str, "correct", "finder", "How neighbouring sources are handled in apertures",
       choices=("correct", "mask", "none"), finders=_SEG),
    _P("kron_params", list, None, "finder", "Kron aperture parameters (2 or 3 numbers)", allow_none=True, finders=_SEG),
    # relative alignment
    _P("enforce_user_order", bool, False, "matching", "Align images in the order given rather than by overlap"),
    _P("expand_refcat", bool, False, "matching", "Add the sources of aligned images to the reference catalog"),
    _P("minobj", int, 15, "matching", "Minimum number of matched objects for a fit", min=1),
    _P("searchrad", float, 2.0, "matching", "Search radius for a match, arcsec", min=0, min_exclusive=True),
    _P("use2dhist", bool, True, "matching", "Use a 2D histogram to find the initial offset"),
    _P("separation", float, 1.0, "matching", "Minimum object separation, arcsec", min=0),
    _P("tolerance", float, 0.7, "matching", "Matching tolerance, arcsec", min=0, min_exclusive=True),
    _P("xoffset", float, 0.0, "matching", "Initial guess for the X offset, arcsec"),
    _P("yoffset", float, 0.0, "matching", "Initial guess for the Y offset, arcsec"),
    _P("fitgeometry", str, "rshift", "fit", "Fit geometry", choices=FITGEOMS),
    _P("nclip", int, 3, "fit", "Number of sigma-clipping iterations of the fit", min=0),
    _P("sigma", float, 3.0, "fit", "Clipping limit in units of sigma", min=0, min_exclusive=True),
    # absolute alignment
    _P("abs_refcat", str, "", "absolute", "Absolute reference catalog: a file, or GAIADR1/GAIADR2/GAIADR3/GAIAREFCAT; empty: none"),
    _P("save_abs_catalog", bool, False, "absolute", "Write out the absolute reference catalog used"),
    _P("abs_minobj", int, 15, "absolute", "Minimum number of matched objects for the absolute fit", min=1),
    _P("abs_searchrad", float, 6.0, "absolute", "Search radius for a match, arcsec (absolute)", min=0, min_exclusive=True),
    _P("abs_use2dhist", bool, True, "absolute", "Use a 2D histogram to find the initial offset (absolute)"),
    _P("abs_separation", float, 1.0, "absolute", "Minimum object separation, arcsec (absolute)", min=0),
    _P("abs_tolerance", float, 0.7, "absolute", "Matching tolerance, arcsec (absolute)", min=0, min_exclusive=True),
    _P("abs_fitgeometry", str, "rshift", "absolute", "Fit geometry (absolute)", choices=FITGEOMS),
    _P("abs_nclip", int, 3, "absolute", "Number of sigma-clipping iterations (absolute)", min=0),
    _P("abs_sigma", float, 3.0, "absolute", "Clipping limit in units of sigma (absolute)", min=0, min_exclusive=True),
    _P("abs_mode", str, "visit", "absolute",
       "Absolute fit of the whole visit at once (as jwst) or of each group on its own",
       choices=("visit", "group")),
    # SIP approximation of a GWCS (JWST outputs)
    _P("sip_approx", bool, True, "sip", "Store a FITS SIP approximation of the new GWCS in the header"),
    _P("sip_max_pix_error", float, 0.01, "sip", "Maximum error of the SIP forward fit, pixels", min=0, min_exclusive=True),
    _P("sip_degree", int, None, "sip", "Degree of the SIP forward polynomial (None: best fit up to 6)", min=1, max=6, allow_none=True),
    _P("sip_max_inv_pix_error", float, 0.01, "sip", "Maximum error of the SIP inverse fit, pixels", min=0, min_exclusive=True),
    _P("sip_inv_degree", int, None, "sip", "Degree of the SIP inverse polynomial (None: best fit up to 6)", min=1, max=6, allow_none=True),
    _P("sip_npoints", int, 12, "sip", "Number of grid points per axis for the SIP fit", min=8),
    # drizzlepac options
    _P("exclusions", str, "", "drizzlepac", "Exclusions file: one line per image, a DS9 region file or FITS mask per chip"),
    _P("wcsname", str, "TWEAK", "drizzlepac", "Name of the updated WCS (WCSNAME)"),
    _P("reject_large_corrections", float, 10.0, "fit",
       "Reject a fit whose shift exceeds this many arcsec (0: never)", min=0),
)

SPEC_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in SPEC}
GROUPS = tuple(dict.fromkeys(p.group for p in SPEC))

_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def coerce(name: str, value: Any) -> Any:
    """Convert ``value`` (possibly a string from a CLI or cfg file) to the type of ``name``."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None:
        raise ParameterError(f"unknown parameter '{name}'")
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
        for prefix in ("", "abs_"):
            sep = getattr(self, f"{prefix}separation")
            tol = getattr(self, f"{prefix}tolerance")
            if sep <= math.sqrt(2) * tol:
                raise ParameterError(
                    f"{prefix}separation ({sep:g}) must be > sqrt(2) * {prefix}tolerance "
                    f"({math.sqrt(2) * tol:.4g})"
                )
            if getattr(self, f"{prefix}searchrad") <= 0:
                raise ParameterError(f"{prefix}searchrad must be > 0")

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
