import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; skips the test when it is absent (a user's fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real third-party data not found at {SHARED_DATA}")
    return SHARED_DATA



@pytest.fixture(scope="session")
def peer_python():
    """``require(*modules) -> Path`` of the peers' python (jwst, stwcs, drizzlepac in /opt/peers).

    Without the peer environment, or without one of ``modules`` in it, the test skips on a
    user's machine but FAILS under ``CI=true``: CI must run every interop check.
    """
    from peer_env import require_peer

    return require_peer
