"""Everything a run writes, and the WCS history that makes it reversible.

- ``fitsio``: FITS helpers shared by the writers (names, EXTVER, the primary WCS).
- ``images``: updated FITS images (the fitted WCS primary, the old one archived).
- ``headerlet``: stwcs-layout headerlets, written and read.
- ``history``: alternate-WCS archive of FITS headers; ``restore``: bringing a WCS back.
- ``shiftfile``: drizzlepac shiftfiles with their reference WCS file.
- ``jwst`` / ``jwst_history``: JWST datamodels, ``_tweakreg.asdf`` WCS files, their history.
- ``report`` / ``qa_table``: the JSON report and the per-image, per-stage QA table.
- ``match_files``: drizzlepac's ``_catalog_fit.match`` files and the expanded reference catalog.
- ``save``: all outputs of a visit in one transaction, paths checked first.
- ``result_store``: the GUI session's results; ``samp``: images and tables sent to DS9/TOPCAT.
"""

from tweakgui.engine.outputs.headerlet import read_headerlet, write_headerlet
from tweakgui.engine.outputs.images import write_catalogs, write_updated_fits
from tweakgui.engine.outputs.restore import apply_headerlet, restore
from tweakgui.engine.outputs.save import (
           check_output_paths,
           planned_outputs,
           save_visit_outputs,
)

__all__ = ["save_visit_outputs", "planned_outputs", "check_output_paths", "write_updated_fits",
           "write_catalogs", "write_headerlet", "read_headerlet", "restore", "apply_headerlet"]
