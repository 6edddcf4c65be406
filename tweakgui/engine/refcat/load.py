"""The absolute reference catalog of a run: a file or Gaia, cut to the visit, in its frame."""

from __future__ import annotations

from pathlib import Path

from astropy.table import Table

from tweakgui.engine.model import InputError, Visit
from tweakgui.engine.refcat import files, gaia

__all__ = ["load_refcat"]


def load_refcat(visit: Visit, params) -> Table | None:
    """The absolute reference catalog of ``params.abs_refcat`` (file or Gaia), or None."""
    name = (params.abs_refcat or "").strip()
    if not name:
        return None
    if name.upper() in gaia.GAIA_CATALOGS:
        ref = gaia.reference_catalog_for_visit(visit, name.upper())
    else:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"abs_refcat: {path}: file not found")
        ref = gaia.maybe_propagate_local(path, files.read_refcat(path), visit)
    ref = files.drop_far_sources(ref, visit)
    ref = files.to_visit_frame(ref, visit)
    if len(ref) < params.abs_minobj:
        raise InputError(
            f"abs_refcat: {name}: {len(ref)} sources, fewer than abs_minobj={params.abs_minobj}"
        )
    ref.meta.setdefault("name", Path(name).name if not name.upper().startswith("GAIA") else name.upper())
    return ref

