"""The composer's pure parts: keys, chords, voice leading, form, prompt rules (no audio)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audiomill.errors import InvalidInput
from audiomill.music.arrange import Note, plan_form
from audiomill.music.meter import Meter
from audiomill.music.pipeline import bars_for, harmonize, loop_bpm
from audiomill.music.prompt import understand
from audiomill.music.styles import STYLES
from audiomill.music.theory import (
    Key,
    chord_on,
    estimate_key,
    find_key,
    parse_key,
    voice_chord,
)


def fake_ranker(best: str):  # type: ignore[no-untyped-def]
    """A ranker that prefers one style (the real model is tested in test_music_embed)."""
    return lambda query, documents: [
        1.0 if doc.startswith(next(s.describe() for s in STYLES if s.name == best)[:40]) else 0.0 for doc in documents
    ]


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("A minor", "A minor"),
        ("F# major", "F# major"),
        ("Bbm", "A# minor"),
        ("c# min", "C# minor"),
        ("D", "D major"),
        ("Eb major", "D# major"),
    ],
)
def test_parse_key(text: str, name: str) -> None:
    assert parse_key(text).name == name


@pytest.mark.parametrize("text", ["H minor", "A dorian", "", "minor"])
def test_parse_key_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_key(text)


@pytest.mark.parametrize(
    ("prose", "name"),
    [
        ("an epic theme in F# minor please", "F# minor"),
        ("lofi in Am", "A minor"),
        ("Eb major ballad", "D# major"),
        ("I am happy", None),
        ("a minor change of plan", None),
    ],
)
def test_find_key_in_prose(prose: str, name: str | None) -> None:
    found = find_key(prose)
    assert (found.name if found else None) == name


def test_minor_dominant_takes_the_leading_tone() -> None:
    assert chord_on(Key(9, "minor"), 4).symbol == "E"  # E major in A minor, not Em
    assert chord_on(Key(9, "minor"), 4, seventh=True).symbol == "E7"
    assert chord_on(Key(0, "major"), 6).symbol == "Bdim"


def test_voice_leading_moves_little() -> None:
    key = Key(0, "major")
    previous = None
    for degree in (0, 5, 3, 4, 0):
        voicing = voice_chord(chord_on(key, degree), previous)
        assert all(52 <= p <= 76 for p in voicing)
        if previous is not None:
            assert sum(abs(a - b) for a, b in zip(previous, voicing)) <= 7  # common tones held, steps
        previous = voicing


@pytest.mark.parametrize("bars", [1, 3, 6, 12, 25, 40, 113])
def test_form_covers_every_bar(bars: int) -> None:
    sections = plan_form(bars)
    assert sections[0].start_bar == 0 and sum(s.bars for s in sections) == bars
    assert all(a.start_bar + a.bars == b.start_bar for a, b in itertools.pairwise(sections))
    if bars >= 12:
        assert sections[0].name == "intro" and sections[-1].name == "outro"
        assert {"verse", "chorus"} <= {s.name for s in sections}
    assert all(s.name not in ("intro", "outro") for s in plan_form(bars, loop=True))


def test_loop_tempo_fits_whole_bars() -> None:
    meter = Meter.of("4/4", 120)
    bpm = loop_bpm(17.0, meter, 110, 130)
    assert 110 <= bpm <= 130
    bars = bars_for(17.0, Meter.of("4/4", bpm), loop=True)
    assert abs(bars * Meter.of("4/4", bpm).bar_seconds - 17.0) < 1e-9


def test_estimate_key_on_a_scale() -> None:
    g_major = [0.0] * 12
    for pc, weight in zip(Key(7, "major").scale_pitch_classes(), (4, 1, 2, 1, 3, 1, 1)):
        g_major[pc] = weight
    assert estimate_key(g_major) == Key(7, "major")


def test_harmonize_fits_the_melody() -> None:
    meter = Meter.of("4/4", 120)  # 2 s bars
    key = Key(0, "major")
    # bar 1 C-E-G, bar 2 F-A, bar 3 G-B-D, bar 4 C
    melody = [(60, 0.0), (64, 0.5), (67, 1.0), (65, 2.0), (69, 3.0), (67, 4.0), (71, 4.5), (74, 5.0), (72, 6.0)]
    notes = [Note(p, t, 0.45 if t < 6 else 1.9) for p, t in melody]
    chords = harmonize(notes, key, meter, 4)
    assert [c.symbol for c in chords] == ["C", "F", "G", "C"]


class TestUnderstanding:
    def test_explicit_parameters_win(self) -> None:
        brief = understand(
            "slow sad jazz in F# minor at 70 bpm",
            rng(),
            bpm=128,
            key="C major",
            genre="rock",
            time_signature="3/4",
            ranker=fake_ranker("ambient"),
        )
        assert brief.style.name == "rock" and brief.bpm == 128 and brief.key.name == "C major"
        assert brief.time_signature == "3/4"
        assert "128 bpm as asked" in brief.why

    def test_words_it_must_never_miss(self) -> None:
        brief = understand("upbeat house track, no drums, 128 bpm, in F# minor", rng(), ranker=fake_ranker("ambient"))
        assert brief.style.name == "house" and not brief.drums
        assert brief.bpm == 128 and brief.key.name == "F# minor"

    def test_solo_piano(self) -> None:
        brief = understand("a tender solo piano piece", rng(), ranker=fake_ranker("rock"))
        assert brief.style.name == "solo_piano" and not brief.drums
        assert set(brief.programs.values()) == {0}

    def test_slow_and_fast(self) -> None:
        slow = understand("slow rock ballad", rng(), ranker=fake_ranker("rock"))
        fast = understand("fast rock", rng(), ranker=fake_ranker("rock"))
        assert slow.bpm < 112 and fast.bpm > 140  # the rock style's range is 112-140

    def test_meaning_decides_when_no_rule_does(self) -> None:
        brief = understand("a dragon circles the burning castle", rng(), ranker=fake_ranker("cinematic"))
        assert brief.style.name == "cinematic" and "closest in meaning" in brief.why

    def test_instruments_and_meter_words(self) -> None:
        brief = understand("a waltz", rng(), instruments=["violin", "harp"], ranker=fake_ranker("pop"))
        assert brief.time_signature == "3/4"
        assert brief.programs == {"melody": 40, "chords": 46}
        with pytest.raises(InvalidInput):
            understand("x", rng(), instruments=["theremin-kazoo"], ranker=fake_ranker("pop"))

    def test_default_key_and_tempo_depend_on_the_seed_only(self) -> None:
        a = understand("happy pop", np.random.default_rng(5), ranker=fake_ranker("pop"))
        b = understand("happy pop", np.random.default_rng(5), ranker=fake_ranker("pop"))
        assert (a.bpm, a.key) == (b.bpm, b.key)
        assert a.key.mode == "major" and 100 <= a.bpm <= 124
