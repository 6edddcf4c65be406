"""The WCS files of many images made in worker processes and written by the saving process.

Each ``<root>_tweakreg.asdf`` costs ~0.2 s of CPU to make: gwcs' SIP
approximation of the new WCS (~80 ms, when ``sip_approx`` is on) and asdf's
serialisation (~100 ms, two thirds of it validating the tree against its
schemas).  For a mosaic of hundreds of images they are made in ``jobs``
processes, in batches (the GWCS of one batch share their distortion
transforms, pickled once), and come back as bytes with the refreshed
``wcsinfo``; the saving process writes the bytes in its transaction like
any other file, so a save is still all or nothing.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from tweakgui.engine.outputs.jwst import remember_wcsinfo, sip_wcsinfo, wcs_file_bytes
from tweakgui.engine.processes import die_with_parent, pool_context

__all__ = ["prepare_wcs_files", "MIN_FILES"]

log = logging.getLogger(__name__)

MIN_FILES = 32  # below this, starting processes costs more than it saves


def _batch(parts, params) -> list[tuple[bytes, dict]]:
    out = []
    for root, wcs, wcsinfo in parts:
        info = sip_wcsinfo(wcs, wcsinfo, params)
        out.append((wcs_file_bytes(root, wcs, info), info))
    return out


def prepare_wcs_files(parts: list[tuple], params, jobs: int) -> list[bytes] | None:
    """The bytes of each ``(root, wcs, wcsinfo)``'s WCS file, made in ``jobs`` processes.

    None when processes are not worth it (``jobs`` < 2, fewer than
    :data:`MIN_FILES` files): the caller makes them itself.
    """
    from concurrent.futures import ProcessPoolExecutor

    if jobs < 2 or len(parts) < MIN_FILES:
        return None
    bounds = np.linspace(0, len(parts), 4 * jobs + 1).astype(int)
    log.info("making %d WCS files in %d processes", len(parts), jobs)
    out: list[bytes] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context(), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = [(a, pool.submit(_batch, parts[a:b], params)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        for a, fut in futures:
            for k, (content, info) in enumerate(fut.result()):
                remember_wcsinfo(parts[a + k][1], params, info)  # an image written too need not refit it
                out.append(content)
    return out
