"""Exclusion regions as the GUI keeps them: plain data, no Qt.

A :class:`Shape` is a circle, box or polygon in 0-based pixel coordinates of
one chip, marked include or exclude.  Shapes convert to DS9 region text (whose
image coordinates are 1-based), one file per chip that a run hands to the
engine as ``chip.meta['exclusion']``, and they load from DS9 files in pixel or
sky coordinates (sky regions are converted with the chip's WCS).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["Shape", "shapes_to_ds9", "shapes_to_ds9_sky", "shapes_from_ds9", "save_ds9", "polygon_vertices",
           "import_exclusions", "apply_regions"]

KINDS = ("circle", "box", "polygon")


@dataclass
class Shape:
    """One region in 0-based pixels.

    ``params``: circle ``(x, y, r)``; box ``(x, y, width, height, angle_deg)``
    with (x, y) the centre; polygon ``(x0, y0, x1, y1, ...)``.
    """

    kind: str
    params: tuple[float, ...]
    include: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"region kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        self.params = tuple(float(p) for p in self.params)
        n = {"circle": 3, "box": 5}.get(self.kind)
        if n is not None and len(self.params) != n:
            raise ValueError(f"a {self.kind} region needs {n} numbers, got {len(self.params)}")
        if self.kind == "polygon" and (len(self.params) < 6 or len(self.params) % 2):
            raise ValueError("a polygon region needs at least 3 (x, y) vertices")

    def to_ds9(self) -> str:
        """The DS9 line of this shape (image coordinates are 1-based)."""
        p = list(self.params)
        if self.kind == "polygon":
            p = [v + 1 for v in p]
        else:
            p[0] += 1
            p[1] += 1
        body = ",".join(f"{v:.4f}" for v in p)
        return f"{'' if self.include else '-'}{self.kind}({body})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": list(self.params), "include": self.include}

    @classmethod
    def from_dict(cls, d: dict) -> "Shape":
        return cls(d["kind"], tuple(d["params"]), bool(d.get("include", False)))


def shapes_to_ds9(shapes: list[Shape]) -> str:
    lines = ["# Region file format: DS9 (written by tweakgui)", "image"]
    lines += [s.to_ds9() for s in shapes]
    return "\n".join(lines) + "\n"


def shapes_to_ds9_sky(shapes: list[Shape], wcs) -> str:
    """DS9 text in sky coordinates (the WCS's frame: icrs or fk5) through the chip's ``wcs``.

    Circles keep their centre and get the radius in arcsec from the local pixel
    scale; boxes are written as the polygon of their four corners, so that
    their orientation on the sky is exact whatever the WCS rotation.
    """
    import numpy as np

    # the frame of the WCS itself: ICRS and FK5 differ by ~20 mas
    radesys = str(getattr(getattr(wcs, "wcs", None), "radesys", "") or "ICRS").strip().lower()
    frame = "fk5" if radesys == "fk5" else "icrs"
    lines = ["# Region file format: DS9 (written by tweakgui)", frame]
    for s in shapes:
        sign = "" if s.include else "-"
        if s.kind == "circle":
            x, y, r = s.params
            ra, dec = wcs.pixel_to_world_values(np.array([x, x + 1.0, x]), np.array([y, y, y + 1.0]))
            cosd = np.cos(np.radians(dec[0]))
            d1 = np.hypot((ra[1] - ra[0]) * cosd, dec[1] - dec[0])
            d2 = np.hypot((ra[2] - ra[0]) * cosd, dec[2] - dec[0])
            scale = float(np.sqrt(d1 * d2)) * 3600.0  # arcsec per pixel
            lines.append(f'{sign}circle({float(ra[0]):.8f},{float(dec[0]):.8f},{r * scale:.4f}")')
            continue
        xy = np.asarray(polygon_vertices(s))
        ra, dec = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
        body = ",".join(f"{a:.8f},{d:.8f}" for a, d in zip(np.ravel(ra), np.ravel(dec)))
        lines.append(f"{sign}polygon({body})")
    return "\n".join(lines) + "\n"


def polygon_vertices(shape: Shape) -> list[tuple[float, float]]:
    """Vertices (0-based pixels) of a box or polygon shape."""
    import math

    if shape.kind == "polygon":
        p = shape.params
        return [(p[i], p[i + 1]) for i in range(0, len(p), 2)]
    if shape.kind != "box":
        raise ValueError("only boxes and polygons have vertices")
    x, y, w, h, ang = shape.params
    c, s = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    return [(x + c * dx - s * dy, y + s * dx + c * dy)
            for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]


def _atomic_write(path: Path, text: str) -> None:
    from tweakgui.engine.io.atomic import atomic_write_text

    atomic_write_text(Path(path), text)


def save_ds9(shapes: list[Shape], path: str | Path, wcs=None) -> None:
    """Write shapes to a DS9 region file (atomically): pixels, or fk5 sky with ``wcs``."""
    text = shapes_to_ds9(shapes) if wcs is None else shapes_to_ds9_sky(shapes, wcs)
    _atomic_write(Path(path), text)


def shapes_from_ds9(path: str | Path, wcs=None) -> list[Shape]:
    """Read a DS9 region file; sky regions need the chip's ``wcs``.

    Raises ValueError with a one-line message naming the file.
    """
    from regions import (
        CirclePixelRegion,
        CircleSkyRegion,
        PolygonPixelRegion,
        PolygonSkyRegion,
        RectanglePixelRegion,
        RectangleSkyRegion,
    )

    from tweakgui.engine.detect.exclusions import region_to_pixel, regions_from_file

    path = Path(path)
    try:
        regs = regions_from_file(path)
    except Exception as exc:  # noqa: BLE001 - InputError or a parser error
        raise ValueError(str(exc).splitlines()[0] if str(exc) else f"{path}: unreadable") from None
    out = []
    for r in regs:
        include = bool(int(r.meta.get("include", 1)))
        if isinstance(r, (CircleSkyRegion, RectangleSkyRegion, PolygonSkyRegion)):
            if wcs is None:
                raise ValueError(f"{path}: sky regions need the image WCS")
            # a box's angle given in another frame (e.g. galactic) needs the engine's conversion
            r = region_to_pixel(r, wcs) if isinstance(r, RectangleSkyRegion) else r.to_pixel(wcs)
        if isinstance(r, CirclePixelRegion):
            out.append(Shape("circle", (r.center.x, r.center.y, r.radius), include))
        elif isinstance(r, RectanglePixelRegion):
            out.append(Shape("box", (r.center.x, r.center.y, r.width, r.height,
                                     r.angle.to_value("deg")), include))
        elif isinstance(r, PolygonPixelRegion):
            xy = []
            for x, y in zip(r.vertices.x, r.vertices.y):
                xy += [x, y]
            out.append(Shape("polygon", tuple(xy), include))
        else:
            log.warning("%s: region %s is not a circle, box or polygon; skipped",
                        path, type(r).__name__)
    return out


def _is_fits_name(path) -> bool:
    return str(path).lower().endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz"))


def import_exclusions(visit, regions: dict) -> dict:
    """Show the region files of an exclusions file (``chip.meta['exclusion']``) as shapes.

    Adds the shapes of every chip without shapes yet to ``regions`` and
    returns the original per-chip entries (FITS masks stay masks).
    """
    entries = {}
    for e in visit.exposures:
        for c in e.chips:
            spec = c.meta.get("exclusion")
            if not spec:
                continue
            key = (e.name, c.name)
            entries[key] = spec
            if key in regions or _is_fits_name(spec):
                continue
            try:
                regions[key] = shapes_from_ds9(spec, c.wcs)
            except ValueError as exc:
                log.warning("%s", exc)
    return entries


def apply_regions(visit, regions: dict, file_entries: dict, directory: Path) -> None:
    """Hand each chip's shapes to the engine as a DS9 file in ``chip.meta['exclusion']``.

    Chips without shapes keep a FITS mask from the exclusions file, if any.
    """
    directory = Path(directory)
    for e in visit.exposures:
        for c in e.chips:
            key = (e.name, c.name)
            shapes = regions.get(key)
            orig = file_entries.get(key)
            if shapes:
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / f"{e.root}_{c.name.replace(',', '').replace(' ', '')}.reg"
                save_ds9(shapes, path)
                c.meta["exclusion"] = str(path)
            elif orig and _is_fits_name(orig):
                c.meta["exclusion"] = orig
            else:
                c.meta.pop("exclusion", None)
