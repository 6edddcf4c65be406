"""Absolute reference catalogs: files in any format, Gaia from the catalog service, proper motions.

- ``files``: a reference catalog file as RA/DEC (degrees), cut to the visit, in its frame.
- ``gaia``: the STScI Gaia service, epochs and proper motions.
- ``load``: the reference catalog of a run (``abs_refcat``).
"""

from tweakgui.engine.refcat.files import read_refcat
from tweakgui.engine.refcat.gaia import GAIA_CATALOGS, CatalogServiceError
from tweakgui.engine.refcat.load import load_refcat

__all__ = ["load_refcat", "read_refcat", "GAIA_CATALOGS", "CatalogServiceError"]
