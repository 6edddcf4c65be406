"""Source detection on one chip: background, finders, and the common output table.

:func:`detect_sources` is the one entry point.  It masks NaN/inf and flagged
pixels, estimates the background and its RMS, runs the finder named by
``params.starfinder`` and returns an :class:`astropy.table.Table` with columns
``x``, ``y`` (0-based pixel centroids), ``flux`` and ``peak`` (background
subtracted), sorted by decreasing flux, with ``peakmax`` and ``brightest``
applied.

The photutils finders (``dao``, ``iraf``, ``segmentation``) follow jwst's
tweakreg catalog recipe: a mesh background (3-sigma clipping, 3x3 filter,
``bkg_boxsize`` boxes; computed by ``sep``, see :func:`mesh_background`),
threshold = ``snr_threshold`` x background RMS, detection on the
background-subtracted image, with the peak search done up front (same peaks,
10x faster, see :func:`_local_peaks`); ``iraf``'s peaks are measured by
:mod:`.starfind` (photutils' ``IRAFStarFinder`` operation for operation,
without its import or its second convolution of the frame).  ``sep`` is
Source Extractor as a library: its own mesh background, extraction on the
image convolved with a Gaussian of ``kernel_fwhm`` and windowed centroids
(``XWIN_IMAGE``/``YWIN_IMAGE``), several times faster than the photutils path.

Centroids: ``dao`` keeps DAOFIND's marginal Gaussian fits (0.04 px RMS on
well-sampled stars).  IRAF starfind's moments inside a 1.5-sigma window are
pulled towards the peak pixel by up to 0.1 px, so ``iraf`` positions are
refined with a Gaussian-windowed centroid; ``segmentation`` uses
SourceCatalog's windowed centroid and ``sep`` its ``winpos``: 0.008 px RMS on
the same stars (tests/engine/detect/test_detect.py).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from astropy.stats import SigmaClip
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from tweakgui.engine.detect import starfind

__all__ = ["detect_sources", "estimate_background", "empty_catalog", "preload_finders", "COLUMNS"]

log = logging.getLogger(__name__)

COLUMNS = ("x", "y", "flux", "peak")
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def preload_finders() -> None:
    """Import what the default finders import lazily (``scipy.ndimage``, ``sep``).

    A parent calls this before forking its detection processes: they then
    inherit the modules instead of each importing them (0.1-0.2 s of CPU each).
    """
    import scipy.ndimage  # noqa: F401
    import sep  # noqa: F401


def empty_catalog(weight_col: bool = False) -> Table:
    """An empty source table with the standard columns."""
    names = COLUMNS + (("weight",) if weight_col else ())
    return Table(names=names, dtype=[np.float64] * len(names))


def detect_sources(data, params, mask=None, weight_col=False) -> Table:
    """Find sources in one 2D image.

    Parameters
    ----------
    data : numpy.ndarray
        The science array (any float or int dtype, any byte order).
    params : tweakgui.engine.params.spec.TweakRegParams
        Uses ``starfinder``, ``snr_threshold``, ``bkg_boxsize``,
        ``kernel_fwhm``, ``brightest``, ``peakmax`` and the parameters of the
        chosen finder.
    mask : numpy.ndarray of bool, optional
        True where a pixel is bad or excluded.  NaN and inf pixels are always
        masked.
    weight_col : bool, optional
        Add a ``weight`` column proportional to the squared signal-to-noise
        ratio of each source (the inverse variance of its centroid in the
        background-limited case), scaled so that the largest weight is 1.

    Returns
    -------
    astropy.table.Table
        Columns ``x``, ``y``, ``flux``, ``peak`` (float64), and ``weight``
        when asked for, sorted by decreasing flux.  An image without sources
        gives an empty table with these columns.
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"detect_sources needs a 2D array, got shape {data.shape}")
    # native byte order float: photutils and sep both need it
    data = np.asarray(data, dtype=np.float64 if data.dtype == np.float64 else np.float32)
    data = data.astype(data.dtype.newbyteorder("="), copy=False)
    bad = ~np.isfinite(data)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask shape {mask.shape} differs from data shape {data.shape}")
        bad |= mask
    if bad.all():
        log.warning("every pixel is masked: no sources")
        return empty_catalog(weight_col)

    finder = params.starfinder
    if finder == "sep":
        cat, rms = _find_sep(data, bad, params)
    else:
        bkg = mesh_background(data, bad, params.bkg_boxsize)
        if bkg is None:
            return empty_catalog(weight_col)
        background, rms = bkg
        sub = (data - background).astype(data.dtype, copy=False)
        np.copyto(sub, 0.0, where=bad)  # in place: one frame less to allocate
        threshold = params.snr_threshold * rms
        if finder in ("dao", "iraf"):
            cat = _find_stars(sub, threshold, bad, params)
        elif finder == "segmentation":
            cat = _find_segments(sub, threshold, bad, params)
        else:
            raise ValueError(f"unknown starfinder {finder!r}")
    return _finish(cat, params, rms, bad, weight_col)


def mesh_background(data, bad, boxsize):
    """Background and RMS maps on a mesh of ``boxsize`` boxes, for the photutils finders.

    The recipe of ``Background2D`` as jwst uses it (3-sigma clipped mesh
    statistics, 3x3 median filter of the mesh, spline interpolation) computed
    by Source Extractor's ``sep.Background``: 50x faster on a 2048x2048 frame
    (0.03 s against 1.2 s, mostly ``Background2D``'s full-resolution zoom),
    and within 0.03 sigma of it on the benchmark images.  Returns None when
    no pixel is usable.
    """
    if bad.all():
        return None
    ny, nx = data.shape
    img = np.ascontiguousarray(np.where(bad, 0.0, data), dtype=np.float32)
    back, rms = _sep_background(img, _as_uint8(bad), int(max(1, min(boxsize, ny, nx))))
    # all finite and positive (NaN fails both comparisons); the median of 4 M pixels that
    # repairs the others is a third of the background's time: only when needed
    if not (rms.min() > 0 and np.isfinite(rms.max())):
        good = np.isfinite(rms) & (rms > 0)
        rms = np.where(good, rms, float(np.median(rms[rms > 0])) if (rms > 0).any() else 1.0)
    return back, rms


def _as_uint8(bad: np.ndarray) -> np.ndarray:
    """A boolean mask as sep's uint8 mask: a view when it is contiguous (no copy)."""
    bad = np.ascontiguousarray(bad, dtype=bool)
    return bad.view(np.uint8)


def estimate_background(data, bad, boxsize):
    """Background and background RMS maps from ``Background2D``.

    The box is clipped to the image size.  When too many boxes are masked
    for the usual rules, progressively laxer settings are tried, ending with
    one box over the whole unmasked image; returns None when no pixel is
    usable.
    """
    from photutils.background import Background2D, MedianBackground

    ny, nx = data.shape
    box = (min(int(boxsize), ny), min(int(boxsize), nx))
    attempts = [(box, 10.0), (box, 90.0), ((ny, nx), 100.0)]
    for size, pct in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyUserWarning)
                b = Background2D(
                    data, size, mask=bad, filter_size=(3, 3),
                    sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
                    bkg_estimator=MedianBackground(), exclude_percentile=pct,
                )
                background, rms = b.background, b.background_rms
        except ValueError as exc:
            log.debug("Background2D box=%s exclude_percentile=%g failed: %s", size, pct, exc)
            continue
        if size != box or pct != 10.0:
            log.info("background estimated with box %s and exclude_percentile %g "
                     "(too many masked pixels for box %s)", size, pct, box)
        background = np.nan_to_num(np.asarray(background), nan=0.0)
        rms = np.asarray(rms)
        good_rms = rms[np.isfinite(rms) & (rms > 0)]
        floor = float(np.median(good_rms)) if good_rms.size else 1.0
        rms = np.where(np.isfinite(rms) & (rms > 0), rms, floor)
        return background, rms
    log.warning("background could not be estimated: no usable pixels")
    return None


def _photutils_table(tab, names) -> Table:
    """Our four columns from a photutils table whose columns are ``names``."""
    x, y, flux, peak = (np.asarray(getattr(tab[n], "value", tab[n]), dtype=np.float64)
                        for n in names)
    return Table({"x": x, "y": y, "flux": flux, "peak": peak})


def _find_stars(sub, threshold, bad, params) -> Table:
    """``iraf`` (measured by :mod:`.starfind`) or ``dao`` (photutils) on peaks found up front."""
    from scipy.ndimage import convolve

    # IRAF's convention, as jwst: int(minsep * fwhm + 0.5) clipped at 2 pixels
    min_sep = max(2, int(params.minsep_fwhm * params.kernel_fwhm + 0.5))
    if params.starfinder == "iraf":
        kernel = starfind.star_kernel(params.kernel_fwhm, params.sigma_radius)
        # the peaks (local maxima within min_separation above the threshold on the
        # convolved image) of photutils' IRAFStarFinder, measured as it does
        conv = convolve(sub, kernel.data.astype(sub.dtype), mode="constant", cval=0.0)
        xy = _local_peaks(conv, threshold, min_sep, bad)
        if xy is None:
            return empty_catalog()
        cat = Table(starfind.measure_stars(sub, xy, kernel, (params.sharplo, params.sharphi),
                                           (params.roundlo, params.roundhi)))
        if len(cat) == 0:
            return empty_catalog()
        # starfind's moments inside a 1.5-sigma window are pulled towards the
        # peak pixel by up to 0.1 px; a Gaussian-windowed centroid removes that
        sig = np.full(len(cat), params.kernel_fwhm / 2.35)
        cat["x"], cat["y"] = _windowed(sub, np.asarray(cat["x"]), np.asarray(cat["y"]), sig, bad,
                                       max(1.0, 0.5 * params.kernel_fwhm))
        return cat
    return _find_dao(sub, threshold, bad, params, min_sep, convolve)


def _find_dao(sub, threshold, bad, params, min_sep, convolve) -> Table:
    from photutils import use_future_column_names
    from photutils.detection import DAOStarFinder

    kwargs = dict(
        sigma_radius=params.sigma_radius,
        min_separation=min_sep,
        sharpness_range=(params.sharplo, params.sharphi),
        roundness_range=(params.roundlo, params.roundhi),
    )
    if params.roundlo >= 0:
        log.info("DAOStarFinder roundness is signed; roundlo=%g also rejects round "
                 "stars with slightly negative roundness", params.roundlo)
    finder = DAOStarFinder(threshold, params.kernel_fwhm, **kwargs)
    # photutils' peak search verifies every noise maximum in Python (0.8 s on
    # a 2048x2048 frame); the same peaks (local maxima within min_separation
    # above the threshold on the finder's own convolved image) found here are
    # handed over as xycoords, and photutils measures and filters them.
    conv = convolve(sub, finder.kernel.data.astype(sub.dtype), mode="constant", cval=0.0)
    xy = _local_peaks(conv, finder.threshold_eff, min_sep, bad)
    if xy is None:
        return empty_catalog()
    finder = DAOStarFinder(threshold, params.kernel_fwhm, xycoords=xy, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoDetectionsWarning: handled by the caller
        with use_future_column_names():
            tab = finder(sub, mask=bad)
    if tab is None or len(tab) == 0:
        return empty_catalog()
    cat = _photutils_table(tab, ("x_centroid", "y_centroid", "flux", "peak"))
    # the shape measures the finder cut on (sharplo/hi, roundlo/hi): kept so that a
    # residual trend against them (a bad cut, chance matches) can be seen
    for name in ("sharpness", "roundness", "roundness1", "roundness2"):
        if name in tab.colnames:
            cat[name] = np.asarray(getattr(tab[name], "value", tab[name]), dtype=np.float64)
    return cat


def _local_peaks(conv, threshold, radius, bad):
    """(x, y) of pixels above ``threshold`` that are the maximum within ``radius``.

    What ``photutils.detection.find_peaks(min_separation=radius)`` returns
    (circular footprint, zeros beyond the edges, ties kept), tested only at
    the few pixels above the threshold.
    """
    above = conv > threshold
    above &= ~bad
    # flat indices, then rows and columns: the same order as np.nonzero, 20x faster on a 2D frame
    ys, xs = np.divmod(np.flatnonzero(above), conv.shape[1])
    if len(ys) == 0:
        return None
    v = conv[ys, xs]
    r = int(np.floor(radius))
    pad = np.pad(conv, r, mode="constant", constant_values=0.0)
    keep = np.ones(len(ys), bool)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if (dx or dy) and dx * dx + dy * dy <= radius * radius:
                keep &= pad[ys + r + dy, xs + r + dx] <= v
    if not keep.any():
        return None
    return np.column_stack([xs[keep], ys[keep]])


def _windowed(img, x, y, sig, bad, max_shift):
    """Source Extractor's windowed centroids (XWIN/YWIN).

    Keeps x, y where the iteration fails or runs off by more than
    ``max_shift`` pixels: on an isolated star it moves a first-moment
    centroid by a tenth of a pixel, a larger move means a neighbour's light
    pulled the window away.
    """
    import sep

    img = np.ascontiguousarray(img, dtype=np.float32)
    bad8 = _as_uint8(bad)
    # 5x5 sub-pixels at the edge of a 4-sigma Gaussian window: as exact as 11x11 here
    xw, yw, flag = sep.winpos(img, x, y, sig, mask=bad8, subpix=5)
    ok = (flag == 0) & np.isfinite(xw) & np.isfinite(yw) & (np.hypot(xw - x, yw - y) < max_shift)
    return np.where(ok, xw, x), np.where(ok, yw, y)


def _gaussian_kernel(fwhm: float, sigma_radius: float = 4.0) -> np.ndarray:
    """A normalised, odd-sized 2D Gaussian kernel truncated at ``sigma_radius`` sigma."""
    sigma = fwhm * FWHM_TO_SIGMA
    half = max(1, int(np.ceil(sigma_radius * sigma)))
    r = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (r / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


def _find_segments(sub, threshold, bad, params) -> Table:
    from photutils.segmentation import SourceCatalog, deblend_sources
    from photutils.segmentation import detect_sources as seg_detect
    from scipy.ndimage import convolve

    kernel = _gaussian_kernel(params.kernel_fwhm)
    conv = convolve(sub, kernel.astype(sub.dtype), mode="constant", cval=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoDetectionsWarning
        segm = seg_detect(conv, threshold, params.npixels,
                          connectivity=params.connectivity, mask=bad)
        if segm is None:
            return empty_catalog()
        if params.nlevels > 1 and params.contrast < 1:
            try:
                segm = deblend_sources(
                    conv, segm, params.npixels, n_levels=params.nlevels,
                    contrast=params.contrast, mode=params.multithresh_mode,
                    connectivity=params.connectivity, progress_bar=False,
                )
            except ImportError as exc:  # the watershed needs scikit-image
                log.warning("segmentation: sources not deblended (%s)", exc)
        kron = tuple(params.kron_params) if params.kron_params else (2.5, 1.4, 0.0)
        cat = SourceCatalog(
            sub, segm, convolved_data=conv, mask=bad,
            local_bkg_width=params.localbkg_width,
            aperture_mask_method=params.apermask_method, kron_params=kron,
        )
        cols = ["x_centroid_win", "y_centroid_win", "segment_flux", "max_value"]
        tab = cat.to_table(columns=cols + ["x_centroid", "y_centroid"])
    out = _photutils_table(tab, cols)
    # the windowed centroid (XWIN) is 4x less noisy than the isophotal
    # barycentre on faint stars; the barycentre stands in where it is undefined
    for c in ("x", "y"):
        bary = np.asarray(getattr(tab[f"{c}_centroid"], "value", tab[f"{c}_centroid"]))
        out[c] = np.where(np.isfinite(out[c]), out[c], bary)
    return out[np.isfinite(out["x"]) & np.isfinite(out["y"])]


def _sep_background(img, bad8, box):
    """sep's mesh background and RMS maps (float32).

    sep gives up on meshes that are mostly masked (all of them: background 0,
    RMS 1); the box is then halved until meshes fit between the masks, and
    below 16 px one sigma-clipped level over all unmasked pixels is used.
    """
    import sep

    while box >= 16:
        bkg = sep.Background(img, mask=bad8, bw=box, bh=box, fw=3, fh=3)
        if not (bkg.globalback == 0.0 and bkg.globalrms == 1.0):
            return bkg.back(), bkg.rms()
        box //= 2
    from astropy.stats import sigma_clipped_stats

    good = img[bad8 == 0]
    _, med, std = sigma_clipped_stats(good[:: max(1, good.size // 1_000_000)], sigma=3.0)
    log.info("sep background: one level over the unmasked pixels (too many masked meshes)")
    return (np.full(img.shape, med, np.float32),
            np.full(img.shape, std if std > 0 else 1.0, np.float32))


def _find_sep(data, bad, params):
    """Source Extractor's recipe through ``sep``; returns (catalog, rms map)."""
    import sep

    ny, nx = data.shape
    # sep wants C-contiguous native float arrays; float32 halves the memory traffic
    img = np.array(data, dtype=np.float32, order="C")  # a copy: modified below
    img[bad] = 0.0
    bad8 = np.ascontiguousarray(bad, dtype=np.uint8)
    back, rms = _sep_background(img, bad8, int(max(1, min(params.bkg_boxsize, ny, nx))))
    img -= back
    img[bad] = 0.0
    kernel = _gaussian_kernel(params.kernel_fwhm, 2.0).astype(np.float32)
    # 'conv' thresholds the convolved image at snr x (unconvolved) RMS, as the
    # photutils segmentation path does
    kwargs = dict(err=rms, mask=bad8, minarea=params.npixels, filter_kernel=kernel,
                  filter_type="conv", deblend_nthresh=params.nlevels,
                  deblend_cont=params.contrast)
    pixstack, sublimit = max(300_000, ny * nx // 10), 4096
    for _ in range(4):
        sep.set_extract_pixstack(pixstack)
        sep.set_sub_object_limit(sublimit)
        try:
            objs = sep.extract(img, params.snr_threshold, **kwargs)
            break
        except Exception as exc:  # sep raises a bare Exception on buffer overflows
            if "buffer full" not in str(exc) and "overflow" not in str(exc):
                raise
            log.debug("sep: %s; retrying with larger buffers", exc)
            pixstack, sublimit = pixstack * 4, sublimit * 4
    else:
        raise RuntimeError("sep extraction overflowed its buffers (image too crowded)")
    if len(objs) == 0:
        return empty_catalog(), rms
    x, y = objs["x"].astype(np.float64), objs["y"].astype(np.float64)
    rmax = np.maximum(6.0 * objs["a"], 2.0 * params.kernel_fwhm)
    r50, _ = sep.flux_radius(img, x, y, rmax, 0.5, mask=bad8, subpix=1)
    # SExtractor's window: sigma = half-light diameter / 2.35
    sig = 2.0 * np.where(np.isfinite(r50) & (r50 > 0), r50, params.kernel_fwhm / 2) / 2.35
    # a deblended object's half-light radius includes its neighbour's light:
    # window it at the kernel's size instead
    merged = (objs["flag"] & sep.OBJ_MERGED) != 0
    sig = np.where(merged, params.kernel_fwhm / 2.35, sig)
    x, y = _windowed(img, x, y, sig, bad, max(1.0, 0.5 * params.kernel_fwhm))
    cat = Table({"x": x, "y": y, "flux": objs["flux"].astype(np.float64),
                 "peak": objs["peak"].astype(np.float64)})
    return cat, rms


def _finish(cat: Table, params, rms, bad, weight_col: bool) -> Table:
    """peakmax, sort by flux, weights: the same for every finder."""
    if len(cat) == 0:
        return empty_catalog(weight_col)
    keep = np.isfinite(cat["flux"]) & np.isfinite(cat["x"]) & np.isfinite(cat["y"])
    if params.peakmax is not None:
        keep &= ~(np.asarray(cat["peak"]) >= params.peakmax)
    cat = cat[keep]
    # every source is kept, brightest first: ``brightest`` picks the sources of the coarse
    # match, the refined fit uses them all (see tweakgui.engine.fit.match)
    order = np.argsort(-np.asarray(cat["flux"]), kind="stable")
    cat = cat[order]
    for c in COLUMNS:
        cat[c] = np.asarray(cat[c], dtype=np.float64)
    if weight_col:
        cat["weight"] = _snr_weights(cat, params, rms, bad)
    log.debug("%s: %d sources", params.starfinder, len(cat))
    return cat


def _snr_weights(cat: Table, params, rms, bad) -> np.ndarray:
    if len(cat) == 0:
        return np.empty(0)
    ny, nx = bad.shape
    ix = np.clip(np.round(cat["x"]).astype(int), 0, nx - 1)
    iy = np.clip(np.round(cat["y"]).astype(int), 0, ny - 1)
    sky_rms = np.asarray(rms)[iy, ix] if np.ndim(rms) == 2 else np.full(len(cat), float(rms))
    # background-limited S/N within a PSF-sized footprint
    npix = np.pi * max(params.kernel_fwhm, 1.0) ** 2
    snr = np.clip(np.asarray(cat["flux"]), 0, None) / (sky_rms * np.sqrt(npix))
    w = snr**2
    top = w.max()
    return w / top if top > 0 else np.ones(len(cat))
