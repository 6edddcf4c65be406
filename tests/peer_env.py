"""The peers venv (stwcs, drizzlepac, jwst) that judges our files."""

import os
from pathlib import Path

import pytest

PEERS_PYTHON = Path("/opt/peers/bin/python")


def require_peer(*modules: str) -> Path:
    """The peers venv's python with ``modules`` importable; skips where absent, fails under CI=true.

    The consumers (stwcs, drizzlepac, jwst) judge our files: in CI their
    absence is a failure, never a silent skip.
    """
    import subprocess

    why = None
    if not PEERS_PYTHON.exists():
        why = f"peer environment {PEERS_PYTHON} absent"
    else:
        code = "; ".join(f"import {m}" for m in modules) or "pass"
        proc = subprocess.run([str(PEERS_PYTHON), "-c", code], capture_output=True, text=True, timeout=300)
        if proc.returncode:
            why = f"{', '.join(modules)} not importable in the peer environment: " + \
                  (proc.stderr.strip().splitlines() or ["?"])[-1]
    if why:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    return PEERS_PYTHON
