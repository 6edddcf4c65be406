"""Exclusion masks: drizzlepac exclusions files, DS9 region files, FITS masks.

Real DS9 files come from ../shared/data/ds9-regions (see its PROVENANCE.md).
Masks are True where a pixel is excluded; areas are checked against analytic
areas in pixels.
"""

import math

import numpy as np
import pytest
from _stars import make_star_field, match_to_truth
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.engine.detect.exclusions import (
    exclusion_mask,
    exclusions_for,
    fits_mask,
    is_include,
    read_exclusions_file,
    region_mask,
    region_to_pixel,
    regions_from_file,
    write_ds9_regions,
)
from tweakgui.engine.detect.finders import detect_sources
from tweakgui.engine.model import InputError
from tweakgui.engine.params.spec import TweakRegParams


@pytest.fixture(scope="module")
def ds9(shared_data):
    return shared_data / "ds9-regions"


def tan_wcs(ra, dec, shape, scale_arcsec=0.1, rot_deg=20.0):
    """A TAN WCS centred on (ra, dec), north rotated by rot_deg, scale in arcsec/px."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    s = scale_arcsec / 3600
    c, t = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    w.wcs.cd = [[-s * c, s * t], [s * t, s * c]]
    w.pixel_shape = (shape[1], shape[0])
    return w


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def disc(shape, cx, cy, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


# --- exclusions file ------------------------------------------------------------------

def test_read_exclusions_file(tmp_path):
    (tmp_path / "regs").mkdir()
    write(tmp_path, "regs/chip1.reg", "image\ncircle(10,10,5)\n")
    write(tmp_path, "regs/chip2.reg", "image\n-circle(10,10,5)\n")
    fits.PrimaryHDU(np.ones((4, 4), np.uint8)).writeto(tmp_path / "mask.fits")
    f = write(tmp_path, "excl.txt", (
        "# drizzlepac exclusions\n"
        "j99da1emq_flt.fits\n"
        "\n"
        "j99da1f2q_flt.fits regs/chip1.reg\n"
        "/data/visit/j8xx01_flc.fits None regs/chip2.reg   # second chip only\n"
        "img3.fits INDEF mask.fits\n"
    ))
    ex = read_exclusions_file(f)
    assert ex == {
        "j99da1emq_flt.fits": [],
        "j99da1f2q_flt.fits": [str(tmp_path / "regs/chip1.reg")],
        "j8xx01_flc.fits": [None, str(tmp_path / "regs/chip2.reg")],
        "img3.fits": [None, str(tmp_path / "mask.fits")],
    }
    assert exclusions_for(ex, "j99da1f2q_flt.fits", 2) == [str(tmp_path / "regs/chip1.reg"), None]
    assert exclusions_for(ex, "/other/dir/j8xx01_flc.fits", 1) == [None]
    assert exclusions_for(ex, "unlisted.fits", 2) == [None, None]
    assert exclusions_for(None, "x.fits", 1) == [None]


def test_exclusions_file_errors(tmp_path):
    with pytest.raises(InputError, match="nothere.txt"):
        read_exclusions_file(tmp_path / "nothere.txt")
    f = write(tmp_path, "excl.txt", "a_flt.fits missing.reg\n")
    with pytest.raises(InputError, match=r"excl\.txt line 1: missing\.reg not found"):
        read_exclusions_file(f)


# --- pixel regions ---------------------------------------------------------------------

def test_real_pixel_regions_all_shapes(ds9):
    """ds9.fits.reg: circle, boxes (one rotated), annulus and polygon included; the
    two exclude regions come before any overlapping include, the point has no area."""
    shape = (1300, 1300)
    m = region_mask(ds9 / "astropy-regions/ds9.fits.reg", shape)
    poly = np.array([(1014, 805), (1151, 805), (1151, 668), (1051, 685)], float)
    poly_area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], 1))
                          - np.dot(poly[:, 1], np.roll(poly[:, 0], 1)))
    # these boxes have even sizes on integer centres: their edges run through pixel
    # centres, which are outside, so a 160x80 box holds 159x79 pixels; two edges
    # of the polygon do the same (0.2 % of the total)
    expected = (disc(shape, 382, 1152, 40).sum() + 2 * 159 * 79 + 160 * 80
                + (disc(shape, 684, 560, 60) & ~disc(shape, 684, 560, 20)).sum() + poly_area)
    assert (~m).sum() == pytest.approx(expected, rel=0.003)
    # DS9 pixels are 1-based: circle(383,1153,40) is centred on 0-based (382, 1152)
    assert not m[1152, 382] and not m[1152, 382 + 39] and m[1152, 382 + 41]
    assert m[560, 684]  # inside the annulus hole
    assert not m[560, 684 + 40]  # in the ring
    assert m[1154, 1056] and m[776, 398]  # the exclude box and ellipse
    assert m[10, 10]


def test_real_pixel_boxes_match_brute_force(ds9):
    """bow-shock-boxes-pixels.reg: the union of 10 (unrotated) boxes, pixel by pixel."""
    shape = (400, 400)
    m = region_mask(ds9 / "bow-shock-boxes-pixels.reg", shape)
    boxes = [(276.72014, 188.01499, 42.243579, 88.542521), (248.36346, 186.86, 14.4648, 38.7756),
             (293.21567, 286.10588, 33.5646, 28.935), (212.48326, 190.91194, 17.9388, 22.5702),
             (228.68776, 225.62929, 23.7276, 23.7276), (236.78974, 154.74266, 28.3572, 21.9906),
             (240.84114, 254.56678, 73.494, 24.885), (267.74771, 111.04963, 59.0274, 30.672),
             (235.3401, 72.56296, 61.3422, 27.7794), (176.02631, 209.14001, 35.2998, 21.9906)]
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    usable = np.zeros(shape, bool)
    for cx, cy, w, h in boxes:
        usable |= (np.abs(xx - (cx - 1)) <= w / 2) & (np.abs(yy - (cy - 1)) <= h / 2)
    assert np.array_equal(~m, usable)


@pytest.mark.parametrize("text,usable_area", [
    # include then exclude: a 100x100 box minus a hole of radius 20
    ("image\nbox(100.5,100.5,100,100,0)\n-circle(101,101,20)\n", 100 * 100 - math.pi * 400),
    # exclude first: drizzlepac applies regions in order, so it removes nothing
    ("image\n-circle(101,101,20)\nbox(100.5,100.5,100,100,0)\n", 100 * 100),
    # include, exclude, include again: the core of the hole is searched again
    ("image\nbox(100.5,100.5,100,100,0)\n-circle(101,101,20)\ncircle(101,101,10)\n",
     100 * 100 - math.pi * 400 + math.pi * 100),
    # only exclude regions: the whole image minus the regions
    ("image\n-circle(51,51,10)\n-box(150.5,150.5,20,20,0)\n", 200 * 200 - math.pi * 100 - 400),
    # a rotated box: the area does not depend on the angle
    ("image\nbox(101,101,60,20,33)\n", 60 * 20),
    ("image\nellipse(101,101,40,10,70)\n", math.pi * 40 * 10),
])
def test_region_order_and_areas(tmp_path, text, usable_area):
    m = region_mask(write(tmp_path, "r.reg", text), (200, 200))
    assert (~m).sum() == pytest.approx(usable_area, rel=0.005)


def test_regions_across_and_beyond_the_edge(tmp_path):
    shape = (200, 200)
    m = region_mask(write(tmp_path, "r.reg", "image\ncircle(1,101,20)\n-circle(-50,-50,10)\n"), shape)
    # only the half disc inside the chip is searched; the off-chip exclude changes nothing
    yy, xx = np.mgrid[:200, :200]
    assert np.array_equal(~m, np.hypot(xx - 0, yy - 100) < 20)
    m = region_mask(write(tmp_path, "r.reg", "image\ncircle(-100,-100,20)\n"), shape)
    assert m.all()  # the only include region is off the chip


def test_physical_coordinates_read_as_image(tmp_path):
    shape = (100, 100)
    image = region_mask(write(tmp_path, "i.reg", "image\ncircle(51,51,10)\n-box(51,51,4,4,0)\n"), shape)
    physical = region_mask(write(tmp_path, "p.reg", "physical\ncircle(51,51,10)\n-box(51,51,4,4,0)\n"),
                           shape)
    oneline = region_mask(write(tmp_path, "o.reg", "physical;circle(51,51,10);-box(51,51,4,4,0)\n"),
                          shape)
    assert (~image).sum() == 305 - 9  # strict-inside pixel centres: r=10 disc minus a 3x3 core
    assert np.array_equal(physical, image) and np.array_equal(oneline, image)


def test_include_then_exclude_pixels(tmp_path):
    m = region_mask(write(tmp_path, "r.reg", "image\nbox(100.5,100.5,100,100,0)\n-circle(101,101,20)\n"),
                    (200, 200))
    hole = disc((200, 200), 100, 100, 19.5)
    assert m[hole].all()
    ring = disc((200, 200), 100, 100, 45) & ~disc((200, 200), 100, 100, 20.5)
    assert not m[ring].any()
    core = disc((200, 200), 100, 100, 20.5)
    assert m[:50].all() and m[150:].all() and not m[50:150, 50:150][~core[50:150, 50:150]].any()


def test_unparsable_and_skyless(tmp_path, ds9):
    for text in ("hello world\nfoo(1,2\n", "image\ncircle(10,10\n"):
        f = write(tmp_path, "bad.reg", text)
        with pytest.raises(InputError, match=r"bad\.reg"):
            region_mask(f, (50, 50))
    with pytest.raises(InputError, match="needs the chip's WCS|need the chip's WCS"):
        region_mask(ds9 / "astropy-regions/ds9.fk5.reg", (50, 50))
    with pytest.raises(InputError, match="nofile.reg"):
        region_mask(tmp_path / "nofile.reg", (50, 50))


# --- sky regions ------------------------------------------------------------------------

def test_sky_regions_every_frame_agree(ds9):
    """The M51 files in fk5, fk5 sexagesimal, icrs and galactic give the same mask."""
    shape = (1400, 1400)
    w = tan_wcs(202.482, 47.200, shape)
    masks = {name: region_mask(ds9 / f"astropy-regions/ds9.{name}.reg", shape, wcs=w)
             for name in ("fk5", "fk5.hms", "icrs", "galactic", "icrs.oneline")}
    usable = (~masks["icrs"]).sum()
    assert usable > 10000
    for name, m in masks.items():
        # the files round coordinates to ~10 mas (0.1 px): boundary pixels only
        assert (m != masks["icrs"]).sum() < 0.005 * usable, name
    # the include circle(202.48643,47.208449,3.9640007"): 39.64 px radius at 0.1"/px
    x, y = w.world_to_pixel_values(202.48643, 47.208449)
    assert not masks["fk5"][disc(shape, x, y, 39.0)].any()
    assert masks["fk5"][disc(shape, x, y, 42) & ~disc(shape, x, y, 41)].all()


def test_galactic_box_angle_converted(ds9):
    """The same box written by DS9 in icrs (angle 2.398 deg) and galactic (158.389 deg)
    lands on the same pixels: the angle is converted between frames (it was off by 156
    deg; the files round coordinates and angles, hence 0.02 deg)."""
    w = tan_wcs(202.482, 47.200, (1400, 1400))
    icrs = regions_from_file(ds9 / "astropy-regions/ds9.icrs.reg")[2]
    gal = regions_from_file(ds9 / "astropy-regions/ds9.galactic.reg")[2]
    a, b = region_to_pixel(icrs, w), region_to_pixel(gal, w)
    assert b.angle.to_value("deg") == pytest.approx(a.angle.to_value("deg"), abs=0.02)
    assert (b.center.x, b.center.y) == pytest.approx((a.center.x, a.center.y), abs=0.1)
    assert b.width == pytest.approx(a.width, rel=1e-4)


def test_real_fk5_circle_area(ds9):
    shape = (700, 700)
    w = tan_wcs(84.6342473, -69.0897241, shape, scale_arcsec=0.1, rot_deg=-35.0)
    m = region_mask(ds9 / "lmc-30dor-Frame46-ds9.reg", shape, wcs=w)
    assert (~m).sum() == pytest.approx(math.pi * 281.15**2, rel=0.002)
    assert not m[349, 349]


@pytest.fixture(scope="module")
def nircam_gwcs(shared_data):
    import asdf

    with asdf.open(shared_data / "jwst-tweakreg-tests/nrcb1-wcs.asdf") as af:
        return af.tree["wcs"]


def test_sky_circle_through_real_gwcs(tmp_path, nircam_gwcs):
    """A 3" fk5 circle on a distorted NIRCam GWCS against true angular distances."""
    w = nircam_gwcs
    ra0, dec0 = w(1000.3, 1200.7)
    f = write(tmp_path, "c.reg", f"icrs\ncircle({ra0:.9f},{dec0:.9f},3\")\n")
    shape = (2048, 2048)
    m = region_mask(f, shape, wcs=w)
    yy, xx = np.mgrid[1050:1350, 850:1150]
    ra, dec = w(xx, yy)
    d = np.degrees(np.arccos(np.clip(
        np.sin(np.radians(dec)) * np.sin(np.radians(dec0))
        + np.cos(np.radians(dec)) * np.cos(np.radians(dec0)) * np.cos(np.radians(ra - ra0)), -1, 1))) * 3600
    truth = d <= 3.0
    assert truth.sum() > 25000  # ~97 px radius
    mismatch = (~m[1050:1350, 850:1150]) != truth
    assert mismatch.sum() < 0.001 * truth.sum()  # a few boundary pixels
    m[1050:1350, 850:1150] = True
    assert m.all()  # nothing searchable outside the circle


def test_sky_polygon_through_real_gwcs_beyond_bounding_box(tmp_path, nircam_gwcs):
    """Polygon vertices projected exactly, even those outside the detector's bounding box."""
    w = nircam_gwcs
    corners = [(-100.0, 500.0), (300.0, 500.0), (300.0, 800.0), (-100.0, 800.0)]
    world = [w(x, y, with_bounding_box=False) for x, y in corners]
    coords = ",".join(f"{r:.9f},{d:.9f}" for r, d in world)
    f = write(tmp_path, "p.reg", f"icrs\n-polygon({coords})\n")
    m = region_mask(f, (2048, 2048), wcs=w)
    expected = np.zeros((2048, 2048), bool)
    expected[500:801, 0:301] = True
    assert (m != expected).sum() < 0.01 * expected.sum()


# --- FITS masks and dispatch -----------------------------------------------------------

def test_fits_mask(tmp_path):
    good = np.ones((60, 80), np.int16)
    good[10:20, 30:50] = 0
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((5, 5))), fits.ImageHDU(good)])
    hdul.writeto(tmp_path / "mask.fits")
    m = fits_mask(tmp_path / "mask.fits", (60, 80))
    assert m.sum() == 200 and m[15, 40] and not m[5, 5]
    # a FITS file without a FITS suffix is recognised by its header
    (tmp_path / "mask.msk").write_bytes((tmp_path / "mask.fits").read_bytes())
    assert np.array_equal(exclusion_mask(tmp_path / "mask.msk", (60, 80)), m)
    with pytest.raises(InputError, match=r"mask\.fits.*\(5, 5\), \(60, 80\).*\(61, 80\)"):
        fits_mask(tmp_path / "mask.fits", (61, 80))


def test_exclusion_mask_dispatch(tmp_path):
    for none in (None, "", "None", "INDEF"):
        assert exclusion_mask(none, (10, 10)) is None
    f = write(tmp_path, "r.reg", "image\n-box(5.5,5.5,4,4,0)\n")
    assert exclusion_mask(f, (10, 10)).sum() == 16
    with pytest.raises(InputError, match="gone.reg"):
        exclusion_mask(tmp_path / "gone.reg", (10, 10))


# --- round trip for the GUI ------------------------------------------------------------

def test_write_and_read_back_pixel_regions(tmp_path, ds9):
    src = ds9 / "astropy-regions/ds9.fits.reg"
    regs = regions_from_file(src)
    assert [is_include(r) for r in regs] == [True, True, False, True, True, False, True, True, True]
    out = write_ds9_regions(regs, tmp_path / "out.reg")
    text = out.read_text()
    assert "-box(1057" in text and "-ellipse(399" in text and "include=" not in text
    back = regions_from_file(out)
    assert [is_include(r) for r in back] == [is_include(r) for r in regs]
    assert np.array_equal(region_mask(out, (1300, 1300)), region_mask(src, (1300, 1300)))


def test_write_sky_regions(tmp_path, ds9):
    shape = (1300, 1300)
    w = tan_wcs(202.482, 47.2, shape)
    src = ds9 / "astropy-regions/ds9.fits.reg"
    out = write_ds9_regions(regions_from_file(src), tmp_path / "sky.reg", wcs=w, sky=True)
    text = out.read_text()
    assert "icrs" in text or "fk5" in text
    assert "-box(202." in text
    m_sky = region_mask(out, shape, wcs=w)
    m_pix = region_mask(src, shape)
    assert (m_sky != m_pix).sum() < 0.01 * (~m_pix).sum()
    # and sky regions back to pixels
    out2 = write_ds9_regions(regions_from_file(out), tmp_path / "pix.reg", wcs=w, sky=False)
    assert "image" in out2.read_text()
    assert (region_mask(out2, shape) != m_pix).sum() < 0.01 * (~m_pix).sum()
    with pytest.raises(ValueError, match="WCS"):
        write_ds9_regions(regions_from_file(src), tmp_path / "x.reg", sky=True)


# --- used by detection -----------------------------------------------------------------

def test_exclusion_mask_removes_sources(tmp_path):
    sf = make_star_field(shape=(300, 300), nstars=60, seed=21, min_sep=15)
    f = write(tmp_path, "r.reg", "image\n-circle(151,151,60)\n")
    mask = exclusion_mask(f, sf.data.shape)
    cat = detect_sources(sf.data, TweakRegParams(brightest=None), mask=mask)
    r = np.hypot(cat["x"] - 150, cat["y"] - 150)
    assert not (r < 57).any()
    tr = np.hypot(sf.truth["x"] - 150, sf.truth["y"] - 150)
    outside = sf.truth[tr > 66]
    ti, _, _, _ = match_to_truth(cat, outside, radius=1.0)
    assert len(ti) == len(outside)
