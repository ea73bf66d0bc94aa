"""audio.ScratchAudio: float32 parked on disk between an engine's passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiomill import audio


def test_blocks_give_back_exactly_what_was_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    written = [rng.standard_normal((2, n)).astype(np.float32) * 4 for n in (1000, 1, 4096, 777)]
    with audio.ScratchAudio(tmp_path / "x.f32", 2) as scratch:
        for block in written:
            scratch.write(block)
    assert scratch.frames == 5874
    # Raw interleaved float32, nothing else: 4 bytes x 2 channels per frame.
    assert (tmp_path / "x.f32").stat().st_size == 5874 * 2 * 4
    blocks = list(scratch.blocks(2048))
    assert [b.shape for b in blocks] == [(2, 2048), (2, 2048), (2, 1778)]
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in blocks)
    # Samples beyond full scale survive (unlike integer formats).
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), np.concatenate(written, axis=1))
    blocks[0][:] = 0  # a copy: reading again gives the original samples
    again = next(scratch.blocks(10))
    np.testing.assert_array_equal(again, written[0][:, :10])


def test_mono_blocks_are_writable_copies(tmp_path: Path) -> None:
    with audio.ScratchAudio(tmp_path / "mono.f32", 1) as scratch:
        scratch.write(np.arange(10, dtype=np.float32)[None])
    block = next(scratch.blocks(4))
    assert block.flags.writeable and block.flags.c_contiguous and block.shape == (1, 4)
    block += 1  # torch.from_numpy on it must not warn about read-only memory


def test_empty_scratch_has_no_blocks_and_bad_use_is_refused(tmp_path: Path) -> None:
    scratch = audio.ScratchAudio(tmp_path / "empty.f32", 1)
    assert list(scratch.blocks(100)) == []
    with pytest.raises(ValueError, match="finished"):
        scratch.write(np.zeros((1, 5), np.float32))
    mono = audio.ScratchAudio(tmp_path / "mono.f32", 1)
    with pytest.raises(ValueError, match=r"\(1, frames\)"):
        mono.write(np.zeros((2, 5), np.float32))
    mono.finish()
    with pytest.raises(ValueError, match="positive"):
        list(mono.blocks(0))
