"""Material the tests read from outside the repository (``../shared`` beside the checkout).

CI checks the repository out beside ``shared/`` (the seed documents, real recordings); a
user's clone has no such folder. A test that needs it skips with the reason there, but
never under ``CI=true``, where the material must be present and a skip would hide a
broken set-up.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


def shared_file(relative: str) -> Path:
    """``../shared/<relative>``; skips the calling test when it is absent (fails under CI)."""
    path = SHARED_DIR / relative
    if not path.is_file():
        message = f"{path} is absent: it lies beside CI's checkout, not inside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: it must be present)")
        pytest.skip(message)
    return path
