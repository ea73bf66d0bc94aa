"""Each live process compiles numba kernels into a cache folder no other live process uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_CLAIM = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from audiomill.numba_cache import claim_numba_cache_dir\n"
    "print(claim_numba_cache_dir(Path(sys.argv[1])), flush=True)\n"
    "sys.stdin.read()\n"  # hold the claim until the parent closes our stdin
)


def _claimant(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CLAIM, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def _release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    child.wait(30)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "AUDIOMILL_NUMBA_CACHE_CLAIMED_BY")}
    env.update(extra)
    return env


def test_live_processes_get_different_folders_and_a_freed_one_is_reused(tmp_path: Path) -> None:
    first, first_folder = _claimant(tmp_path, _env())
    second, second_folder = _claimant(tmp_path, _env())
    try:
        assert first_folder != second_folder
        assert {Path(first_folder).parent, Path(second_folder).parent} == {tmp_path}
    finally:
        _release(first)
    third, third_folder = _claimant(tmp_path, _env())  # the first's slot is free again: warm cache reused
    _release(second)
    _release(third)
    assert third_folder == first_folder


def test_a_child_that_inherits_a_claim_claims_its_own(tmp_path: Path) -> None:
    parent, parent_folder = _claimant(tmp_path, _env())
    try:
        inherited = _env(NUMBA_CACHE_DIR=parent_folder, AUDIOMILL_NUMBA_CACHE_CLAIMED_BY="1")
        child, child_folder = _claimant(tmp_path, inherited)
        _release(child)
        assert child_folder != parent_folder
    finally:
        _release(parent)


def test_a_folder_the_user_chose_is_left_alone(tmp_path: Path) -> None:
    child, answer = _claimant(tmp_path, _env(NUMBA_CACHE_DIR=str(tmp_path / "mine")))
    _release(child)
    assert answer == "None"
    assert not list(tmp_path.glob("slot-*"))


@pytest.mark.parametrize("unusable", ["file"])
def test_an_unusable_root_falls_back_to_a_private_folder(tmp_path: Path, unusable: str) -> None:
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the cache root should be")
    child, folder = _claimant(root, _env())
    _release(child)
    assert "audiomill-numba-" in folder and Path(folder).parent != root
