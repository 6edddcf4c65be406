"""A visit from the command line's or the GUI's input list: exposures, custom catalogs, exclusions.

Everything a run reads besides the pixels is checked here, so that a bad
file stops the run before anything is computed or written.
"""

from __future__ import annotations

import os

from tweakgui.engine.detect import custom, exclusions
from tweakgui.engine.io.catalogs import pair_wcs_files, read_input
from tweakgui.engine.io.inputs import distinct_default_groups, expand_inputs
from tweakgui.engine.io.shared_transforms import read_in_processes
from tweakgui.engine.model import Exposure, InputError, Visit
from tweakgui.engine.processes import batches, default_jobs

__all__ = ["load_visit"]


def load_visit(specs: list[str], params, catalogs: list[str] = (), wcs: list[str] = (),
               jobs: int | None = None) -> Visit:
    """Expand ``specs`` and read every exposure, attaching custom catalogs and exclusions.

    ``catalogs`` are specs of catalog inputs (source catalogs with a WCS and no
    pixels, see :mod:`tweakgui.engine.io.catalogs`); inputs named ``.ecsv``,
    ``.cat``, ``.csv`` or VOTable, and FITS tables, are catalog inputs too.
    ``wcs`` pairs one WCS file with each of ``catalogs``, in order.

    Everything a run reads besides the pixels is checked here, so that a bad
    file stops the run before anything is computed or written: custom catalogs
    are read (x/y columns) and exclusion region files and masks are applied to
    each chip's shape and WCS.  Only problems of the pixels themselves (all
    NaN, no sources) are left to mark one image FAILED.

    ``jobs``: processes reading many GWCS files (default: all cores).

    Raises
    ------
    InputError
        One line naming the file and the cause.
    """
    items = expand_inputs(specs, catalogs)
    pair_wcs_files(items, wcs)
    shared: dict = {}  # GWCS files of one detector and filter share its distortion, read once
    asdf_paths = [it.path for it in items if not it.is_catalog and str(it.path).lower().endswith(".asdf")]
    jobs = default_jobs() if jobs is None else jobs
    read_in_processes(asdf_paths, shared, jobs, extra=_catalog_reads(items, params, jobs))
    exposures = [read_input(it, shared) for it in items]
    distinct_default_groups(items, exposures)
    kinds = {e.kind for e in exposures}
    if len(kinds) > 1:
        raise InputError("inputs mix FITS-WCS (HST) and GWCS (JWST) images or catalogs; align them separately")
    if params.use_custom_catalogs:
        custom.attach_custom_catalogs(exposures, params.catfile or None)
        custom.check_custom_catalogs(exposures)
    if params.exclusions:
        _attach_exclusions(exposures, params.exclusions)
    return Visit(exposures, source=" ".join(map(str, specs)))


def _catalog_reads(items, params, jobs) -> list:
    """The ASN's custom catalogs (a catfile names others), read in batches by the GWCS reading processes."""
    if not params.use_custom_catalogs or params.catfile:
        return []
    cats = list(dict.fromkeys(os.path.abspath(it.catalog) for it in items if it.catalog is not None
                              and not it.is_catalog))
    return [(custom.read_catalog_batch, part, custom.remember_catalogs) for part in batches(cats, 2 * jobs)]


def _attach_exclusions(exposures: list[Exposure], path) -> None:
    try:
        table = exclusions.read_exclusions_file(path)
    except InputError:
        raise
    except Exception as e:  # a binary or otherwise unreadable file
        raise InputError(f"exclusions file {path}: cannot read ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:100] if str(e) else ''})") from None
    for e in exposures:
        specs_ = table.get(e.name) or table.get(e.root)
        if specs_ is None:
            continue
        for c, s in zip(e.chips, specs_):
            if not s:
                continue
            try:
                exclusions.exclusion_mask(s, c.shape, c.wcs)
            except InputError as exc:
                raise InputError(f"{exc} (exclusions of {e.name}[{c.name}])") from None
            except Exception as exc:  # regions/astropy raise many kinds on odd files
                raise InputError(f"exclusion file {s} for {e.name}[{c.name}]: cannot be applied "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''})"
                                 ) from None
            c.meta["exclusion"] = s

