"""MusicGen-melody: the librosa chroma, loading through the catalogue, hum_to_beat jobs.

The model is the tiny random-weight MusicGen-melody of tests/musicgen_melody_tiny.py in
AUDIOMILL_MODELS_DIR/facebook/musicgen-melody, loaded through the real from_pretrained path
(HF_HUB_OFFLINE=1 from conftest: no hub access).

transformers' MusicgenMelodyFeatureExtractor cannot be built here: it needs torchaudio,
which does not install beside torch 2.13. Our chroma is compared with it directly when
torchaudio is importable (skipped otherwise), and always with the extractor's recipe
restated in torch (torch.stft where it calls torchaudio's Spectrogram, transformers' own
chroma filter bank, max normalisation and argmax), which shares no code with ours (librosa).
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from fastapi.testclient import TestClient

from audiomill import audio
from audiomill.config import Settings
from audiomill.errors import InvalidInput
from audiomill.models import musicgen, musicgen_catalog
from audiomill.models.musicgen import _fit_chroma
from audiomill.models.musicgen_chroma import ChromaSettings, extractor_chroma, one_hot_chroma, window_chroma
from tests.conftest import stored_files, wait_for
from tests.hum_samples import SAMPLE_RATE as HUM_RATE
from tests.hum_samples import melody_on_grid, render_hum
from tests.musicgen_melody_tiny import session_tiny_musicgen_melody

RATE = 32000
CHROMA = ChromaSettings()


@pytest.fixture(scope="session")
def tiny_melody_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_tiny_musicgen_melody(tmp_path_factory)


@pytest.fixture
def with_tiny_melody(models_dir: Path, tiny_melody_folder: Path) -> Path:
    target = models_dir / "facebook" / "musicgen-melody"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(tiny_melody_folder, target_is_directory=True)
    return target


# ---------------------------------------------------------------------------- the chroma


def _extractor_recipe(mono: np.ndarray) -> np.ndarray:
    """transformers 5.x MusicgenMelodyFeatureExtractor on one mono clip at 32 kHz, step by step."""
    from transformers.audio_utils import chroma_filter_bank

    wav = torch.tensor(mono[: round(CHROMA.chunk_seconds * RATE)], dtype=torch.float32)  # truncation to 30 s
    if wav.shape[-1] < CHROMA.n_fft:
        pad = CHROMA.n_fft - wav.shape[-1]
        wav = torch.nn.functional.pad(wav, (pad // 2, pad // 2 + pad % 2))
    # torchaudio.transforms.Spectrogram(n_fft, win_length=n_fft, hop, power=2, center=True,
    # normalized=True): a periodic Hann window, reflect padding, frames scaled by 1/||window||.
    window = torch.hann_window(CHROMA.n_fft)
    spec = torch.stft(
        wav,
        CHROMA.n_fft,
        hop_length=CHROMA.hop_length,
        win_length=CHROMA.n_fft,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    spec = (spec / window.pow(2).sum().sqrt()).abs().pow(2)
    filters = torch.from_numpy(
        chroma_filter_bank(sampling_rate=RATE, num_frequency_bins=CHROMA.n_fft, tuning=0, num_chroma=12)
    ).float()
    raw = torch.einsum("cf,ft->ct", filters, spec)[None]
    norm = torch.nn.functional.normalize(raw, p=float("inf"), dim=-2, eps=1e-6).transpose(1, 2)
    index = norm.argmax(-1, keepdim=True)
    norm[:] = 0
    norm.scatter_(dim=-1, index=index, value=1)
    return norm[0].numpy()


def _clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    t = np.arange(round(4.3 * RATE)) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((261.63, 329.63, 392.0, 130.81)))
    hum = render_hum(melody_on_grid(110, beats=12, seed=3, tonic=57), seed=3, sample_rate=RATE)
    return {
        "hum": hum,
        "chord": (0.2 * chord).astype(np.float32),
        "noise": (0.1 * rng.standard_normal(3 * RATE)).astype(np.float32),
        "shorter than one FFT": (0.3 * np.sin(2 * np.pi * 440.0 * t[: RATE // 4])).astype(np.float32),
        "longer than 30 s": np.tile(hum, 1 + round(31 * RATE / hum.shape[0]))[: 31 * RATE],
    }


@pytest.mark.parametrize("name", list(_clips()))
def test_chroma_matches_the_extractors_recipe(name: str) -> None:
    clip = _clips()[name]
    ours = extractor_chroma(clip, CHROMA)
    reference = _extractor_recipe(clip)
    assert ours.shape == reference.shape and ours.shape[1] == 12
    assert ours.dtype == np.float32 and set(np.unique(ours)) == {0.0, 1.0} and (ours.sum(axis=1) == 1).all()
    assert np.array_equal(ours.argmax(axis=1), reference.argmax(axis=1))


def test_chroma_matches_transformers_extractor_itself() -> None:
    pytest.importorskip("torchaudio", reason="MusicgenMelodyFeatureExtractor needs torchaudio (not beside torch 2.13)")
    from transformers import MusicgenMelodyFeatureExtractor

    extractor = MusicgenMelodyFeatureExtractor()
    for clip in _clips().values():
        theirs = extractor(clip, sampling_rate=RATE, return_tensors="np")["input_features"][0]
        assert np.array_equal(extractor_chroma(clip, CHROMA), theirs)


def test_chroma_names_the_sung_pitch_class() -> None:
    t = np.arange(3 * RATE) / RATE
    for pitch_class, hz in ((9, 220.0), (0, 261.63), (7, 392.0)):
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        chroma = one_hot_chroma(tone, CHROMA)
        assert chroma.shape == (1 + tone.shape[0] // CHROMA.hop_length, 12)
        assert (chroma[2:-2].argmax(axis=1) == pitch_class).all()


def test_window_chroma_takes_the_span_and_loops() -> None:
    chroma = np.eye(12, dtype=np.float32)[np.arange(20) % 12]  # frame i -> pitch class i % 12
    part = window_chroma(chroma, 1.0, 1.0, 4.0)  # 4 frames a second: frames 4..7
    assert part.argmax(axis=1).tolist() == [4, 5, 6, 7]
    looped = window_chroma(chroma, 4.5, 1.0, 4.0)  # frames 18, 19, then 0, 1 again
    assert looped.argmax(axis=1).tolist() == [6, 7, 0, 1]
    assert _fit_chroma(part, 10).argmax(axis=1).tolist() == [4, 5, 6, 7, 4, 5, 6, 7, 4, 5]


# ---------------------------------------------------------------------------- the model


def _offline(tmp_path: Path, models_dir: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        models_dir=models_dir,
        models_cache_dir=tmp_path / "cache",
        models_download=False,
    )


def test_catalogue_checks_the_melody_model(tmp_path: Path, with_tiny_melody: Path, models_dir: Path) -> None:
    settings = _offline(tmp_path, models_dir)
    musicgen_catalog.check_request("musicgen-melody", settings, melody_input=True)  # present: accepted
    musicgen_catalog.check_request("musicgen-melody", settings)  # generate: text to music, no melody
    with pytest.raises(InvalidInput, match="cannot follow a melody"):
        musicgen_catalog.check_request("musicgen-small", settings, melody_input=True)
    with pytest.raises(InvalidInput, match=r"facebook/musicgen-melody.*CC-BY-NC-4.0"):
        musicgen_catalog.check_request("musicgen-melody", _offline(tmp_path, tmp_path / "empty"), melody_input=True)


@pytest.mark.slow
def test_each_window_is_conditioned_on_its_part_of_the_melody(
    tmp_path: Path, with_tiny_melody: Path, models_dir: Path
) -> None:
    loaded = musicgen.load("musicgen-melody", _offline(tmp_path, models_dir))
    assert loaded.melody == CHROMA and loaded.chroma_length == 235 and loaded.frame_rate == 10.0
    melody = np.eye(12, dtype=np.float32)[np.arange(40) % 12]  # 5.1 s of chroma frames
    seen: list[torch.Tensor] = []
    hook = loaded.model.audio_enc_to_dec_proj.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    try:
        # windows of 3 s with 1 s of context: new audio at 0-3 s, 3-5 s, 5-7 s
        music = musicgen.generate_music(
            loaded, "calm piano", 7.0, 5, melody_chroma=melody, window_seconds=3.0, context_seconds=1.0
        )
    finally:
        hook.remove()
    assert music.windows == 3 and music.audio.shape == (1, 7 * RATE)
    # Each generate call: the chroma (then the null chroma for guidance), tiled to 235 frames.
    assert len(seen) == 3
    for features, start_seconds in zip(seen, (0.0, 2.0, 4.0), strict=True):
        assert features.shape == (2, 235, 12)
        expected = _fit_chroma(window_chroma(melody, start_seconds, 3.0, CHROMA.frames_per_second), 235)
        assert np.array_equal(features[0].numpy(), expected)
        assert (features[1].argmax(-1) == 0).all()  # transformers' "no melody" for guidance
    again = musicgen.generate_music(
        loaded, "calm piano", 7.0, 5, melody_chroma=melody, window_seconds=3.0, context_seconds=1.0
    )
    assert torch.equal(music.codes, again.codes)
    with pytest.raises(InvalidInput, match="takes no melody"):
        musicgen.generate_music(
            dataclasses.replace(loaded, melody=None, name="musicgen-small"),
            "calm piano",
            1.0,
            5,
            melody_chroma=melody,
        )


# ---------------------------------------------------------------------------- hum_to_beat jobs


def _hum_wav(tmp_path: Path) -> Path:
    path = tmp_path / "hum.wav"
    audio.encode(path, render_hum(melody_on_grid(100, beats=8, seed=2, tonic=60), seed=2)[None, :], HUM_RATE)
    return path


def _post(client: TestClient, hum: Path, params: dict[str, Any]) -> Any:
    import json

    return client.post(
        "/api/v1/jobs",
        data={"kind": "hum_to_beat", "params": json.dumps(params)},
        files=[("hum", ("hum.wav", hum.read_bytes()))],
    )


@pytest.mark.slow
def test_a_hum_to_beat_job_with_musicgen_melody(client: TestClient, with_tiny_melody: Path, tmp_path: Path) -> None:
    response = _post(
        client,
        _hum_wav(tmp_path),
        {"model": "musicgen-melody", "bpm": 100, "mood": "happy", "seed": 9, "duration_seconds": 6.5},
    )
    assert response.status_code in (200, 201, 202), response.text
    done = wait_for(client, response.json()["id"], {"completed", "failed"}, timeout_seconds=180)
    assert done["status"] == "completed", done.get("error")
    result = done["result"]
    assert result["model"] == "musicgen-melody" and result["licence"] == "CC-BY-NC-4.0"
    assert result["bpm"] == 100 and result["notes"] and result["key"]
    assert result["duration_seconds"] == 6.5 and result["sample_rate"] == RATE
    assert result["text_prompt"].endswith(f"key: {result['key']}. 100 bpm")
    # the 5.1 s hum (4.8 s of notes) at 7.8 chroma frames a second
    assert result["chroma_frames"] == 1 + round(5.1 * RATE) // 4096
    assert sorted(o["name"] for o in done["outputs"]) == ["melody_midi", "mix"]
    body = client.get(f"/api/v1/jobs/{done['id']}/outputs/mix")
    samples, rate = soundfile.read(io.BytesIO(body.content), dtype="float32")
    assert rate == RATE and samples.shape[0] == round(6.5 * RATE) and np.abs(samples).max() > 0.01


@pytest.mark.no_demucs_weights
def test_hum_to_beat_without_melody_weights_is_refused(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    hum = _hum_wav(tmp_path)
    response = _post(client, hum, {"model": "musicgen-melody"})
    assert response.status_code == 422, response.text
    assert "facebook/musicgen-melody" in response.text and "CC-BY-NC-4.0" in response.text
    assert _post(client, hum, {"model": "musicgen-small"}).status_code == 422  # not a melody model
    assert client.get("/api/v1/jobs").json()["count"] == 0
    assert stored_files(settings) == []


def test_default_length_ends_with_the_bar_of_the_last_note() -> None:
    from audiomill.analysis.melody import TranscribedNote, Transcription
    from audiomill.models.musicgen_hum import default_duration_seconds

    def sung(*notes: tuple[float, float]) -> Transcription:
        return Transcription(tuple(TranscribedNote(60, a, d) for a, d in notes), 0.0, None, 1.0)

    assert default_duration_seconds(sung((0.0, 1.2), (3.6, 1.2)), 100) == pytest.approx(4.8)  # bars of 2.4 s
    assert default_duration_seconds(sung((0.0, 1.0), (3.6, 1.3)), 100) == pytest.approx(7.2)
    assert default_duration_seconds(sung((0.0, 0.2)), 300) == 1.0  # at least a second


@pytest.mark.slow
def test_the_composer_honours_duration_seconds(tmp_path: Path) -> None:
    from audiomill.engines import hum_to_beat
    from audiomill.engines.base import LocalContext
    from audiomill.params import HumToBeatParams

    ctx = LocalContext(
        HumToBeatParams(bpm=100, seed=1, duration_seconds=7.5), {"hum": _hum_wav(tmp_path)}, tmp_path / "out"
    )
    hum_to_beat.run(ctx)
    mix, rate = audio.decode(ctx.outputs["mix"][0])
    assert mix.shape[1] == round(7.5 * rate)


@pytest.mark.slow
def test_a_generate_job_with_musicgen_melody_is_text_to_music(client: TestClient, with_tiny_melody: Path) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={
            "kind": "generate",
            "params": {"prompt": "warm folk guitar", "duration_seconds": 5.5, "model": "musicgen-melody", "seed": 4},
        },
    )
    assert response.status_code in (200, 201, 202), response.text
    done = wait_for(client, response.json()["id"], {"completed", "failed"}, timeout_seconds=180)
    assert done["status"] == "completed", done.get("error")
    assert done["result"]["model"] == "musicgen-melody" and done["result"]["licence"] == "CC-BY-NC-4.0"
    samples, rate = soundfile.read(io.BytesIO(client.get(f"/api/v1/jobs/{done['id']}/outputs/mix").content))
    assert rate == RATE and samples.shape[0] == round(5.5 * RATE) and np.abs(samples).max() > 0.01
