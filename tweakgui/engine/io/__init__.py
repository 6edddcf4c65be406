"""Reading inputs and writing files safely: the bottom of the engine.

- ``inputs``: input lists, ASN files, HST FITS exposures and their pixels.
- ``jwst``: JWST datamodels and standalone GWCS files (through stdatamodels/asdf).
- ``tables``: catalog tables in any astropy format, columns found by name.
- ``atomic``: atomic writes and all-or-nothing transactions for every output.
"""

from tweakgui.engine.io.atomic import (
           OutputError,
           atomic_path,
           check_writable_dir,
           transaction,
)
from tweakgui.engine.io.inputs import expand_inputs, read_exposure, read_pixels
from tweakgui.engine.io.tables import find_column, read_table

__all__ = ["expand_inputs", "read_exposure", "read_pixels", "read_table", "find_column", "atomic_path",
           "transaction", "check_writable_dir", "OutputError"]
