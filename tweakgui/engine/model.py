"""Data objects shared by the engine, the command line and the GUI.

An input visit is a list of :class:`Exposure` objects, each with one or more
:class:`Chip` objects.  All chips of one exposure group (same ``group_id``)
receive one correction.  A run returns a :class:`VisitResult` with one
:class:`ImageResult` per exposure and one :class:`FitResult` per fitted group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

__all__ = [
    "ProgressFn",
    "Chip",
    "Exposure",
    "Visit",
    "FitResult",
    "ImageResult",
    "Correction",
    "VisitResult",
    "InputError",
    "one_line",
    "Cancelled",
    "STATUS_SUCCESS",
    "STATUS_REFERENCE",
    "STATUS_FAILED",
]

# progress(stage, done, total, message): how a run reports, to a terminal or the GUI
ProgressFn = Callable[[str, int, int, str], None]

STATUS_SUCCESS = "SUCCESS"
STATUS_REFERENCE = "REFERENCE"
STATUS_FAILED = "FAILED"


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``).

    Error messages quote file names and library messages, which may hold any
    character; escaping keeps the message on one line without losing it.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class InputError(ValueError):
    """The run cannot start: bad input file, list, ASN or catalog.

    The message is one line and names the file and the cause (line breaks
    in it are escaped).
    """

    def __init__(self, message="", *args):
        super().__init__(one_line(message), *args)


class Cancelled(RuntimeError):
    """The run was cancelled through its ``threading.Event``."""

    @classmethod
    def check(cls, cancel) -> None:
        """Raise when ``cancel`` (a ``threading.Event`` or None) is set."""
        if cancel is not None and cancel.is_set():
            raise cls("alignment cancelled")


@dataclass
class Chip:
    """One science array of an exposure with its WCS.

    ``wcs`` is an ``astropy.wcs.WCS`` (FITS, with SIP) or a ``gwcs.WCS`` (JWST).
    ``hdu`` is the index of the SCI extension in the file (FITS); for a JWST
    datamodel it is 1.  ``name`` is what the user sees, e.g. ``"SCI,1"``.
    Pixel coordinates everywhere in tweakgui are 0-based.
    """

    name: str
    hdu: int
    shape: tuple[int, int]  # (ny, nx)
    wcs: Any
    # extra per-chip information (e.g. wcsinfo dict of a JWST model)
    meta: dict = field(default_factory=dict)
    # a custom catalog (x, y[, weight]) for this chip, or None to detect
    catalog_path: Path | None = None


@dataclass
class Exposure:
    """One input file: its chips, group and output root.

    A catalog input (``meta['catalog_input']``) is a source catalog with a WCS
    and no pixels: ``path`` is the catalog, each chip's ``catalog_path`` too,
    and ``meta['has_pixels']`` is False.
    """

    path: Path
    kind: str  # "fits" (FITS WCS + SIP) or "jwst" (datamodel with GWCS)
    chips: list[Chip]
    group_id: str
    root: str  # output root name, e.g. "j94f05bgq" for j94f05bgq_flt.fits
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_pixels(self) -> bool:
        """False for an input without an image: a catalog input or a standalone WCS file."""
        return self.meta.get("has_pixels", True) is not False


@dataclass
class Visit:
    """The inputs of one run, in user order."""

    exposures: list[Exposure]
    # where relative paths in ASN/catfile were resolved from (for reports)
    source: str = ""

    def groups(self) -> dict[str, list[Exposure]]:
        out: dict[str, list[Exposure]] = {}
        for e in self.exposures:
            out.setdefault(e.group_id, []).append(e)
        return out


@dataclass
class FitResult:
    """One fit (one group against the reference), relative or absolute.

    Shifts are in the reference tangent plane; ``shift_arcsec`` in arcsec
    and ``shift_pix`` in pixels of the reference image.  ``matches`` has one
    row per matched pair with columns: ``group_id``, ``image`` (exposure
    name), ``chip``, ``input_idx`` (row in that chip's catalog), ``ref_idx``
    (row in the reference catalog), ``x``, ``y`` (chip pixels, 0-based),
    ``ra``, ``dec`` (of the source after the fit), ``ref_ra``, ``ref_dec``,
    ``dx``, ``dy`` (residuals in arcsec in the reference tangent plane, after
    the fit, input minus reference), ``used`` (False where sigma-clipped or excluded
    by the user), ``excluded`` (True where the user excluded the match),
    ``ra0``, ``dec0`` (the source before this fit), ``ref_image``, ``ref_chip``,
    ``ref_row`` (where the reference source comes from: image, chip and row of
    its catalog in a relative fit; "", "" and ``ref_idx`` for a reference catalog).
    """

    group_id: str
    kind: str  # "relative" or "absolute"
    status: str
    reason: str = ""
    fitgeom: str = ""
    nmatch: int = 0
    shift_arcsec: tuple[float, float] = (0.0, 0.0)
    shift_pix: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = 0.0
    proper_rot_deg: float = 0.0
    scale: float = 1.0
    skew_deg: float = 0.0
    rmse_arcsec: float = float("nan")
    mae_arcsec: float = float("nan")
    matrix: np.ndarray | None = None
    matches: Table | None = None
    # pre-fit offsets (input minus reference, arcsec, tangent plane) of all
    # candidate pairs within searchrad: the data of the 2D offset histogram.
    # Its peak is what xoffset/yoffset mean.
    offsets: np.ndarray | None = None
    # (dx, dy) arcsec of the peak of the 2D offset histogram, when computed
    hist_peak_arcsec: tuple[float, float] | None = None
    # names of the exposures in this fit's group
    images: list[str] = field(default_factory=list)
    # trust: how the match was found and why it can (not) be chance
    matcher: str = ""  # "2dhist", "offset" (x/yoffset), "pattern"
    nused: int = 0  # matches left after clipping and the user's exclusions
    match_radius_arcsec: float = float("nan")  # final nearest-neighbour radius
    # matches expected by chance within the final radius for the two source densities
    n_chance: float = float("nan")
    # Gaussian-equivalent significance of the match against chance (the
    # false-alarm probability of the verdict's "chance" check)
    significance: float = float("nan")
    # each check of the verdict: {"name": (value, limit, passed)}
    checks: dict = field(default_factory=dict)
    # the engine's 2D histogram of ``offsets`` (tweakgui.engine.fit.match.Histogram, arcsec,
    # input − reference like ``offsets``; counts[i, j] for x bin i and y bin j)
    histogram: Any = None
    # the reference list a relative stage with ``expand_refcat`` ended with (on its REFERENCE
    # fit): RA, DEC and each source's image, chip and catalog row
    expanded_refcat: Table | None = None
    # absolute fits: the epoch (Julian year) the reference positions were moved to for this
    # fit (each exposure group's own observation date), or the catalog's epoch; None: unknown
    ref_epoch: float | None = None

    def image_numbers(self, image: str) -> dict:
        """One image's own share of this fit: its matches, used matches, rmse and mae (arcsec)."""
        out = {"nmatch": 0, "nused": 0, "rmse_arcsec": float("nan"), "mae_arcsec": float("nan")}
        t = self.matches
        if t is None:  # no table to share out: the fit's own counts
            out.update(nmatch=self.nmatch, nused=self.nused, rmse_arcsec=self.rmse_arcsec, mae_arcsec=self.mae_arcsec)
            return out
        if len(t) == 0:
            return out
        own = np.asarray(t["image"]) == image if "image" in t.colnames else np.ones(len(t), bool)
        if "excluded" in t.colnames:
            own &= ~np.asarray(t["excluded"], bool)
        used = own & np.asarray(t["used"], bool)
        r = np.hypot(np.asarray(t["dx"], float), np.asarray(t["dy"], float))[used]
        out.update(nmatch=int(own.sum()), nused=int(used.sum()))
        if r.size:
            out.update(rmse_arcsec=float(np.sqrt(np.mean(r ** 2))), mae_arcsec=float(np.mean(r)))
        return out

    def summary(self) -> str:
        if self.status != STATUS_SUCCESS:
            return f"{self.status}: {self.reason}" if self.reason else self.status
        return (
            f"{self.fitgeom} nmatch={self.nmatch} shift=({self.shift_arcsec[0]:+.4f}\", "
            f"{self.shift_arcsec[1]:+.4f}\") rot={self.rotation_deg:+.5f}° "
            f"scale={self.scale:.6f} rmse={self.rmse_arcsec * 1000:.2f} mas"
        )


@dataclass
class Correction:
    """An image's total correction (all stages) at its reference pixel.

    ``ref_pixel`` is the 0-based (x, y) of the first chip's reference pixel
    (CRPIX - 1 for FITS); ``ref_ra``/``ref_dec`` its position before the
    correction.  ``shift_arcsec`` is the move of that point on the sky,
    (ΔRA·cos δ, ΔDec) in arcsec, new minus old; ``shift_pix`` the same move
    in the chip's detector pixels (x, y).  ``rotation_deg`` turns the
    image counter-clockwise in the (east, north) plane, the sense of R(θ) in
    ``CD' = R(θ) @ CD`` (a decrease of position angle); ``scale`` is new/old
    pixel size.
    """

    ref_pixel: tuple[float, float]
    ref_ra: float
    ref_dec: float
    shift_arcsec: tuple[float, float]
    shift_pix: tuple[float, float]
    rotation_deg: float
    scale: float


@dataclass
class ImageResult:
    """The outcome for one exposure."""

    exposure: Exposure
    status: str
    reason: str = ""
    # fits that moved this image (relative first, then absolute)
    fits: list[FitResult] = field(default_factory=list)
    # corrected WCS per chip (same order as exposure.chips); None if unchanged
    new_wcs: list[Any] | None = None
    # source catalog per chip (x, y, flux, ...), 0-based pixels
    catalogs: list[Table] = field(default_factory=list)
    output: Path | None = None
    extra_outputs: list[Path] = field(default_factory=list)
    # the image's own total correction of all stages (None where not aligned)
    correction: Correction | None = None

    @property
    def fit(self) -> FitResult | None:
        """The last successful fit of this image (absolute if any), or None."""
        for f in reversed(self.fits):
            if f.status == STATUS_SUCCESS:
                return f
        return None


@dataclass
class VisitResult:
    """Everything a run produced."""

    images: list[ImageResult]
    fits: list[FitResult]
    params: Any
    refcat: Table | None = None  # absolute reference catalog used (RA, DEC[, weight])
    abs_mode: str = ""
    report_path: Path | None = None
    log: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return sum(1 for r in self.images if r.status == STATUS_FAILED)
