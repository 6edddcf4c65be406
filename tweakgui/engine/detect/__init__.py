"""Source catalogs of the images: detection, custom catalogs, exclusions, cache, processes.

- ``finders``: background and the finders (sep, photutils' DAO/IRAF/segmentation).
- ``custom``: user catalogs given by ``catfile`` or an ASN instead of detection.
- ``exclusions``: DS9/CRTF regions and FITS masks that keep sources out.
- ``exclusion_keys``: sources the user excluded by hand, kept by sky position.
- ``cache``: catalogs reused across runs when the pixels and finder did not change.
- ``parallel``: detection in worker processes or on a Dask cluster.
- ``chip``: one chip's sources from its pixels.
- ``visit``: the catalogs of a whole visit, from all of the above.
"""

from tweakgui.engine.detect.chip import detect_chip
from tweakgui.engine.detect.finders import detect_sources, estimate_background
from tweakgui.engine.detect.visit import catalog_key, detect_visit

__all__ = ["detect_visit", "detect_chip", "detect_sources", "estimate_background", "catalog_key"]
