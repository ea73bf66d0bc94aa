"""The composer's front door: a brief (or a melody) in, mastered stems + mix + MIDI out.

    compose(brief, duration_seconds, seed, loop=False)      -> Composition
    compose_for_melody(notes, bpm, key=None, mood=..., ...) -> Composition
    Composition.blocks(name) / .read(name) / .write_midi(path) / .describe() / .close()

A Composition holds its stems on disk (raw float32 in a temporary folder) and the master
gain curve in memory, so a 5-minute track costs one mix's worth of memory, not one per
stem. Every stem and the mix come out mastered with the same per-sample gain: the stems
sum to the mix. Same inputs and seed -> the same samples, bit for bit.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi  # type: ignore[import-untyped]

from audiomill.audio.loudness import LoudnessMeter
from audiomill.errors import InvalidInput
from audiomill.music import master as mastering
from audiomill.music.arrange import Arrangement, Note, arrange
from audiomill.music.meter import Meter
from audiomill.music.prompt import Brief
from audiomill.music.render import (
    CHANNELS,
    SAMPLE_RATE,
    StemFile,
    render_stems,
    to_midi,
)
from audiomill.music.soundfont import resolve_soundfont
from audiomill.music.styles import STYLES_BY_NAME, Style
from audiomill.music.theory import Chord, Key, chord_on, estimate_key, parse_key

_BLOCK_FRAMES = 1 << 16


@dataclass
class Composition:
    """A rendered piece. Stem names are the parts (``drums``, ``bass``, ``chords``,
    ``pad``, ``melody``); ``"mix"`` is their mastered sum."""

    brief: Brief
    arrangement: Arrangement
    seed: int
    duration_seconds: float
    sample_rate: int
    frames: int
    loop: bool
    midi: pretty_midi.PrettyMIDI
    mastering: mastering.Mastering
    _stems: dict[str, StemFile]
    _mix: StemFile
    _scratch: Path

    @property
    def stem_names(self) -> list[str]:
        return list(self._stems)

    def blocks(self, name: str, block_frames: int = _BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Mastered float32 (channels, n) blocks of a stem or of ``"mix"``: transposed
        views of (n, channels) arrays, since the writers want frames-major data again."""
        source = self._mix if name == "mix" else self._stems.get(name)
        if source is None:
            raise InvalidInput(f"no stem {name!r}; stems: {', '.join(self._stems)}")
        gain = self.mastering.gain
        position = 0
        for block in source.blocks(block_frames):
            count = block.shape[0]
            # in place: the block was just read from disk and is ours
            np.multiply(block, gain[position : position + count, None], out=block)
            yield block.T
            position += count

    def read(self, name: str) -> np.ndarray:
        """A whole mastered stem (or ``"mix"``) as (channels, frames)."""
        return np.concatenate(list(self.blocks(name)), axis=1)

    def write_midi(self, path: Path) -> None:
        self.midi.write(str(path))

    def describe(self) -> dict[str, Any]:
        """The JSON result: what was chosen and why, the form, the measured loudness."""
        meter = self.arrangement.meter
        report = self.mastering.report
        return {
            "style": self.brief.style.name,
            "genre": self.brief.style.genre,
            "why": self.brief.why,
            "bpm": round(meter.bpm, 3),
            "key": self.arrangement.key.name,
            "time_signature": meter.time_signature,
            "bars": self.arrangement.total_bars,
            "sections": [
                {
                    "name": s.name,
                    "start_seconds": round(s.start_bar * meter.bar_seconds, 3),
                    "bars": s.bars,
                    "start_bar": s.start_bar,
                }
                for s in self.arrangement.sections
            ],
            "chords": [c.symbol for c in self.arrangement.chords],
            "stems": self.stem_names,
            "drums": "drums" in self._stems,
            "seed": self.seed,
            "loop": self.loop,
            "duration_seconds": self.frames / self.sample_rate,
            "sample_rate": self.sample_rate,
            "loudness_lufs": _finite(report.integrated_lufs),
            "true_peak_dbtp": _finite(report.true_peak_dbtp),
            "limiter_max_reduction_db": round(-self.mastering.max_reduction_db, 3),
        }

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Composition:  # noqa: PYI034 (the class is not subclassed)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bars_for(duration_seconds: float, meter: Meter, loop: bool) -> int:
    """How many bars a piece of this length holds. Not looping, the last bar may be cut
    short by up to a quarter of a bar (its chord rings to the end and fades); looping,
    the bars are what fits, rounded."""
    exact = duration_seconds / meter.bar_seconds
    return max(1, round(exact) if loop else math.floor(exact + 0.25))


def loop_bpm(duration_seconds: float, meter: Meter, low: float, high: float) -> float:
    """A tempo in [low, high] (as near their middle as possible) at which a whole number
    of bars lasts exactly ``duration_seconds``: what a seamless loop needs."""
    middle = (low + high) / 2
    best: float | None = None
    for bars in range(1, 400):
        bpm = bars * meter.beats_per_bar * 60.0 / duration_seconds
        if 40 <= bpm <= 300 and (best is None or abs(bpm - middle) < abs(best - middle)):
            best = bpm
    return best if best is not None else middle


def compose(
    brief: Brief,
    duration_seconds: float,
    seed: int,
    loop: bool = False,
    soundfont: Path | None = None,
    melody: list[Note] | None = None,
    chords: list[Chord] | None = None,
) -> Composition:
    """Arrange, render, fit to ``duration_seconds`` (to the sample) and master."""
    if duration_seconds <= 0:
        raise InvalidInput("duration_seconds must be positive")
    rng = np.random.default_rng(seed)
    bpm = brief.bpm
    meter = Meter.of(brief.time_signature, bpm, brief.style.swing)
    if loop and not brief.tempo_fixed:
        bpm = loop_bpm(duration_seconds, meter, *brief.style.tempo_range)
        meter = Meter.of(brief.time_signature, bpm, brief.style.swing)
    total_bars = bars_for(duration_seconds, meter, loop)
    arrangement = arrange(
        brief.style,
        brief.key,
        meter,
        total_bars,
        rng,
        loop=loop,
        drums_on=brief.drums,
        programs=brief.programs,
        melody=melody,
        chords=chords,
    )
    frames = round(duration_seconds * SAMPLE_RATE)
    scratch = Path(tempfile.mkdtemp(prefix="audiomill-compose-"))
    try:
        # the mix is measured as it is rendered (a second thread), ready for mastering
        loudness = LoudnessMeter(SAMPLE_RATE, CHANNELS)
        with ThreadPoolExecutor(max_workers=1) as measuring:
            pending: list[Future[None]] = []

            def measure_block(block: np.ndarray) -> None:
                if pending:
                    pending.pop().result()  # in order
                pending.append(measuring.submit(loudness.add, block.T))

            stems, mix_file = render_stems(
                arrangement, resolve_soundfont(soundfont), scratch, frames, loop, on_mix_block=measure_block
            )
            for job in pending:
                job.result()
        result = mastering.master(mix_file, SAMPLE_RATE, None if loop else loudness)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return Composition(
        brief,
        arrangement,
        seed,
        duration_seconds,
        SAMPLE_RATE,
        frames,
        loop,
        to_midi(arrangement),
        result,
        stems,
        mix_file,
        scratch,
    )


# --------------------------------------------------------------------------------------
# arranging around a given melody (hum-to-beat)

MOOD_STYLES = {
    "neutral": "pop",
    "happy": "pop",
    "upbeat": "pop",
    "energetic": "house",
    "dance": "house",
    "calm": "ambient",
    "relaxed": "lofi",
    "chill": "lofi",
    "sad": "solo_piano",
    "dark": "trap",
    "aggressive": "rock",
    "epic": "cinematic",
    "dramatic": "cinematic",
    "romantic": "waltz",
    "groovy": "funk",
    "jazzy": "jazz",
    "dreamy": "ambient",
    "nostalgic": "synthwave",
}


def compose_for_melody(
    notes: Sequence[Note],
    bpm: float,
    key: str | Key | None = None,
    mood: str = "neutral",
    seed: int = 0,
    duration_seconds: float | None = None,
    style: str | None = None,
    melody_program: int | None = None,
    soundfont: Path | None = None,
) -> Composition:
    """Arrange a band around ``notes`` (e.g. a transcribed hum): chords that fit each
    bar, drums and bass in the mood, the melody played on an instrument.

    ``notes`` are MIDI pitches with times in seconds from the start; bar 1 starts at 0.
    ``key`` None: estimated from the notes (Krumhansl-Schmuckler). ``style`` (a style
    name) wins over ``mood``, which picks a style from MOOD_STYLES (unknown moods: pop).
    ``duration_seconds`` None: up to the end of the bar holding the last note.
    """
    if not notes:
        raise InvalidInput("the melody has no notes")
    if not 40 <= bpm <= 300:
        raise InvalidInput(f"bpm must be within 40-300, got {bpm}")
    chosen_style = _style_for(style, mood)
    histogram = [0.0] * 12
    for note in notes:
        histogram[note.pitch % 12] += note.duration_seconds
    chosen_key = key if isinstance(key, Key) else parse_key(key) if key else estimate_key(histogram)
    meter = Meter.of(chosen_style.time_signature, bpm, chosen_style.swing)
    end = max(n.start_seconds + n.duration_seconds for n in notes)
    if duration_seconds is None:
        duration_seconds = math.ceil(end / meter.bar_seconds - 1e-6) * meter.bar_seconds
    total_bars = bars_for(duration_seconds, meter, loop=False)
    chords = harmonize(notes, chosen_key, meter, total_bars)
    program = melody_program if melody_program is not None else (chosen_style.programs.melody or 0)
    reasons = [
        f"style {chosen_style.name} for the mood '{mood}'" if style is None else f"style {chosen_style.name} as asked",
        f"key {chosen_key.name} " + ("as asked" if key else "estimated from the melody"),
        f"{bpm:g} bpm as given",
    ]
    brief = Brief(
        chosen_style,
        float(bpm),
        chosen_key,
        meter.time_signature,
        chosen_style.groove is not None,
        {"melody": program},
        reasons,
    )
    melody = [
        Note(n.pitch, n.start_seconds, n.duration_seconds, n.velocity)
        for n in notes
        if n.start_seconds < duration_seconds
    ]
    return compose(brief, duration_seconds, seed, loop=False, soundfont=soundfont, melody=melody, chords=chords)


def _style_for(style: str | None, mood: str) -> Style:
    if style is not None:
        if style not in STYLES_BY_NAME:
            raise InvalidInput(f"unknown style {style!r}; styles: {', '.join(STYLES_BY_NAME)}")
        return STYLES_BY_NAME[style]
    lowered = mood.strip().lower()
    for word, name in MOOD_STYLES.items():
        if word in lowered:
            return STYLES_BY_NAME[name]
    return STYLES_BY_NAME["pop"]


def harmonize(notes: Sequence[Note], key: Key, meter: Meter, total_bars: int) -> list[Chord]:
    """One diatonic chord a bar, chosen for the melody notes sounding in that bar: chord
    tones score by how long they sound, other scale notes are neutral, notes outside the
    key count against; I, IV, V and vi are preferred a little, the piece starts and ends
    on the tonic, and a bar with no notes keeps the previous chord moving (IV or V)."""
    candidates = [chord_on(key, degree) for degree in range(7)]
    prior = {0: 0.3, 3: 0.2, 4: 0.2, 5: 0.15, 1: 0.05, 2: 0.0, 6: -0.3}
    scale = set(key.scale_pitch_classes())
    chords: list[Chord] = []
    for bar in range(total_bars):
        start, end = bar * meter.bar_seconds, (bar + 1) * meter.bar_seconds
        weights = [0.0] * 12
        downbeat: set[int] = set()  # pitch classes sounding on the bar's first beat
        for note in notes:
            overlap = min(end, note.start_seconds + note.duration_seconds) - max(start, note.start_seconds)
            if overlap > 0:
                weights[note.pitch % 12] += overlap
                if note.start_seconds <= start + 0.05 * meter.beat_seconds:
                    downbeat.add(note.pitch % 12)
        total = sum(weights)
        if total == 0:
            previous = chords[-1].degree if chords else 4
            chords.append(candidates[3 if previous != 3 else 4] if chords else candidates[0])
            continue

        previous_degree = chords[-1].degree if chords else None
        chords.append(
            max(
                candidates,
                key=lambda chord: _chord_fit(chord, weights, downbeat, scale, prior[chord.degree], previous_degree),
            )
        )
    if chords:
        chords[0] = candidates[0] if weights_fit(notes, candidates[0], meter, 0) else chords[0]
        chords[-1] = candidates[0] if weights_fit(notes, candidates[0], meter, total_bars - 1) else chords[-1]
    return chords


def _chord_fit(
    chord: Chord, weights: list[float], downbeat: set[int], scale: set[int], prior: float, previous_degree: int | None
) -> float:
    """How well ``chord`` carries one bar's melody (see harmonize)."""
    value = 0.0
    for pc, weight in enumerate(weights):
        if pc in chord.pitch_classes:
            value += weight
        elif pc not in scale:
            value -= weight
    value = value / sum(weights) + prior
    value -= 0.35 * sum(1 for pc in downbeat if pc not in chord.pitch_classes)  # a clash on the beat
    if previous_degree == chord.degree:
        value -= 0.1  # let the harmony move
    return value


def weights_fit(notes: Sequence[Note], chord: Chord, meter: Meter, bar: int) -> bool:
    """True when every melody note on the downbeat of ``bar`` is a chord tone and none
    sounding a long time clashes (a semitone) with the chord: the tonic may then open
    and close the piece."""
    start, end = bar * meter.bar_seconds, (bar + 1) * meter.bar_seconds
    for note in notes:
        overlap = min(end, note.start_seconds + note.duration_seconds) - max(start, note.start_seconds)
        on_beat = start - 1e-6 <= note.start_seconds <= start + 0.05 * meter.beat_seconds
        if on_beat and note.pitch % 12 not in chord.pitch_classes:
            return False
        clashes = any((note.pitch - pc) % 12 in (1, 11) for pc in chord.pitch_classes)
        if overlap > meter.beat_seconds * 0.75 and clashes:
            return False
    return True


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


__all__ = ["CHANNELS", "Composition", "Note", "bars_for", "compose", "compose_for_melody", "harmonize"]
