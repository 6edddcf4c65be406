"""Where a run's CPU time goes: py-spy's raw stacks of every process, summed by phase.

``record(cmd, out, rate)`` runs ``cmd`` under ``py-spy record --subprocesses``
(``pip install py-spy``) and ``phases(out, rate)`` turns its collapsed stacks
into CPU seconds per phase.  Each sample goes to the phase of its innermost
frame that names one (so the imports done inside a phase count as imports,
and a ``set_correction`` inside the second fit step counts as
``set_correction``).  Samples of processes that wait are not recorded
(py-spy skips idle threads).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter

# function (qualified name, as py-spy prints it) -> phase; the innermost match wins
PHASES = {
    "_find_and_load": "imports",
    "is_jwst_file": "read inputs: GWCS files",
    "is_gwcs_file": "read inputs: GWCS files",
    "read_wcs_file": "read inputs: GWCS files",
    "read_wcs_exposure": "read inputs: GWCS files",
    "read_gwcs_tree": "read inputs: GWCS files",
    "read_in_processes": "read inputs: GWCS files",
    "read_custom_catalog": "read inputs: catalogs",
    "load_refcat": "reference catalog",
    "WCSCorrector.__init__": "build correctors",
    "ST_V2V3_WCSCorrector.__init__": "build correctors",
    "SharedJWSTCorrector.__init__": "build correctors",
    "make_corrector": "build correctors",
    "ST_V2V3_WCSCorrector.set_correction": "apply corrections (set_correction)",
    "SharedJWSTCorrector.set_correction": "apply corrections (set_correction)",
    "fit_group": "match + fit",
    "_prepare": "sources and footprints through the starting WCS",
    "_StageRun._polish": "after the fit: moves, second step, tables",
    "_StageRun._moved_arcsec": "after the fit: moves, second step, tables",
    "_StageRun._fill": "after the fit: moves, second step, tables",
    "image_correction": "after the fit: moves, second step, tables",
    "_apart_from_reference": "sources and footprints through the starting WCS",
    # pickle.loads is C code: unpickling shows as the frame that calls it
    "ForkingPickler.dumps": "pickling for workers (dumps)",
    "Queue.get": "unpickling in workers (their tasks)",
    "_ExecutorManagerThread.wait_result_broken_or_wakeup": "unpickling workers' results",
    "_process_worker": "workers: other",
    "no_overlap_reason": "failure hints",
    "sip_wcsinfo": "write: SIP approximation and S_REGION",
    "AsdfFile.write_to": "write: ASDF serialisation",
    "tree_shape": "write: ASDF serialisation",
    "write_wcs_file": "write: other",
    "write_report": "write: report and QA table",
    "write_fits_table": "write: report and QA table",
    "prepare_wcs_files": "write: other",
    "_align": "run: other",
}


def record(cmd: list[str], out: str, rate: int = 50, env=None, cwd=None) -> int:
    """Run ``cmd`` under py-spy (raw collapsed stacks of it and its children into ``out``)."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy not found (pip install py-spy)")
    full = [spy, "record", "-f", "raw", "-o", out, "-r", str(rate), "--subprocesses", "--", *cmd]
    return subprocess.run(full, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def _function(frame: str) -> str:
    m = re.match(r"(.+?) \(", frame)
    return m.group(1) if m else frame


def phases(raw_path: str, rate: int = 50) -> dict[str, float]:
    """CPU seconds per phase (all processes), largest first."""
    totals: Counter = Counter()
    with open(raw_path) as fh:
        for line in fh:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            phase = "start-up and process plumbing"
            for frame in reversed(stack.split(";")):
                hit = PHASES.get(_function(frame))
                if hit:
                    phase = hit
                    break
            totals[phase] += int(n)
    return {k: v / rate for k, v in totals.most_common()}
