import pytest

from fake_engine import FakeEngine


@pytest.fixture
def fake_engine():
    eng = FakeEngine()
    yield eng
    eng.gate.set()
