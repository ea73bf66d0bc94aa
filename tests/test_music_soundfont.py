"""The composer's SoundFont: an MIT one by default, the GPL one only by name, clear errors,
and subsets of a big .sf2 that sound exactly like the whole file; the mastered output
checked by independent meters (scipy 4x oversampling for the true peak, pyloudnorm)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from audiomill.errors import ModelUnavailable
from audiomill.music import compose, soundfont, understand
from audiomill.music.render import SAMPLE_RATE

tsf = pytest.importorskip("tinysoundfont._tinysoundfont")
pyloudnorm = pytest.importorskip("pyloudnorm")

FLUID = soundfont.DEFAULT_SOUNDFONT


def needs_fluid() -> None:
    if not FLUID.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{FLUID} missing: scripts/ensure-system-packages.sh installs fluid-soundfont-gm")
        pytest.skip(f"{FLUID} not installed (Debian fluid-soundfont-gm)")


def test_the_default_is_fluidr3_and_the_gpl_one_only_by_name(tmp_path: Path) -> None:
    assert soundfont.DEFAULT_SOUNDFONT.name == "FluidR3_GM.sf2"
    assert soundfont.resolve_soundfont("timgm6mb").name == "TimGM6mb.sf2"
    assert soundfont.resolve_soundfont("TimGM6mb") == soundfont.bundled_gpl_soundfont()
    mine = tmp_path / "mine.sf2"
    mine.write_bytes(b"x")
    assert soundfont.resolve_soundfont(mine) == mine


def test_a_missing_default_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(soundfont, "DEFAULT_SOUNDFONT", tmp_path / "absent.sf2")
    with pytest.raises(ModelUnavailable, match="fluid-soundfont-gm") as caught:
        soundfont.resolve_soundfont(None)
    assert "GPL-2" in str(caught.value)  # the opt-in names its licence
    with pytest.raises(ModelUnavailable, match="not found"):
        soundfont.resolve_soundfont(tmp_path / "typo.sf2")


def render_notes(font: object, bank: int, preset: int, drums: bool, pitches: list[int]) -> np.ndarray:
    voice = tsf.SoundFont(font)
    voice.set_output(tsf.OutputMode.StereoInterleaved, SAMPLE_RATE, -6.0)
    voice.set_max_voices(64)
    channel = 9 if drums else 0
    voice.channel_set_bank(channel, bank)
    voice.channel_set_preset_number(channel, preset, drums)
    out = []
    for pitch in pitches:
        for frames, on in ((11025, True), (5512, False)):
            if on:
                voice.channel_note_on(channel, pitch, 0.8)
            else:
                voice.channel_note_off(channel, pitch)
            block = np.zeros(2 * frames, np.float32)
            voice.render(memoryview(block).cast("B"), False)
            out.append(block)
    return np.concatenate(out)


CASES = [(0, 0, False, [40, 60, 84]), (0, 32, False, [28, 43]), (128, 0, True, [36, 38, 42, 49]), (0, 81, False, [72])]


@pytest.mark.parametrize("source", ["timgm6mb", "fluid"])
def test_a_subset_sounds_like_the_whole_soundfont(source: str) -> None:
    if source == "fluid":
        needs_fluid()
    path = soundfont.resolve_soundfont(source if source != "fluid" else None)
    wanted = frozenset((bank, preset) for bank, preset, _, _ in CASES)
    data = soundfont.subset_sf2(path, wanted)
    assert len(data) < 0.5 * path.stat().st_size
    whole, subset = tsf.SoundFont(str(path)), tsf.SoundFont(data)
    assert subset.get_preset_count() == len(wanted)
    for bank, preset, drums, pitches in CASES:
        expected = render_notes(whole, bank, preset, drums, pitches)
        assert np.abs(expected).max() > 0.01  # the note sounds
        # the same samples at other offsets: the synthesizer's float playback position rounds
        # a little differently (~1e-5 of full scale, -100 dB); nothing else may differ
        np.testing.assert_allclose(render_notes(subset, bank, preset, drums, pitches), expected, atol=3e-5)


def test_loaded_subsets_are_kept_per_preset_set() -> None:
    needs_fluid()
    first = soundfont.load_soundfont(FLUID, {(0, 0), (128, 0)})
    assert soundfont.load_soundfont(FLUID, [(128, 0), (0, 0)]) is first
    assert soundfont.load_soundfont(FLUID, {(0, 1)}) is not first


def independent_true_peak_dbtp(audio: np.ndarray) -> float:
    return 20 * math.log10(float(np.abs(resample_poly(audio.astype(np.float64), 4, 1, axis=-1)).max()))


@pytest.mark.parametrize("prompt", ["upbeat electronic dance music, energetic", "slow sad solo piano"])
def test_mastered_composer_output_by_independent_meters(prompt: str) -> None:
    needs_fluid()
    brief = understand(prompt, np.random.default_rng(3))
    with compose(brief, 24.0, 3) as piece:
        mix = piece.read("mix")
        stems = sum(piece.read(name) for name in piece.stem_names)
        described = piece.describe()
    assert mix.shape == (2, 24 * SAMPLE_RATE)
    assert independent_true_peak_dbtp(mix) <= -1.0
    lufs = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(mix.T.astype(np.float64))
    assert lufs == pytest.approx(-14.0, abs=1.0)
    assert described["loudness_lufs"] == pytest.approx(lufs, abs=0.1)
    residual = 20 * math.log10(float(np.abs(stems - mix).max()) / float(np.abs(mix).max()))
    assert residual < -60.0


def test_a_broken_soundfont_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF" + bytes(soundfont.SUBSET_ABOVE_BYTES + 100))
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        soundfont.load_soundfont(broken, {(0, 0)})
