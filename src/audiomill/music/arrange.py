"""The arrangement: a form scaled to the duration, and every part written note by note.

    plan_form(total_bars, loop)                    -> sections (intro/verse/chorus/bridge/outro)
    arrange(style, key, meter, total_bars, ...)    -> Arrangement (parts of timed notes)

Parts are ``drums``, ``bass``, ``chords``, ``melody`` and ``pad`` (a style plays the ones
it has programs for). Harmony is one chord a bar from the style's progressions, voiced
with the least motion from the chord before; the bass plays the chord's root (walking,
pumping or held, per style); the melody is built from a motif per section that is
repeated, moved onto the harmony, varied and closed with a cadence. Sections set the
dynamics: quieter intros and bridges, the full band in choruses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audiomill.music import drums
from audiomill.music.meter import Meter
from audiomill.music.styles import Style
from audiomill.music.theory import Chord, Key, chord_on, voice_chord

PART_ORDER = ("drums", "bass", "chords", "pad", "melody")
# level of each part in the mix (before mastering): drums and bass carry the groove, the
# melody sits on top, the pad underneath
PART_GAIN = {"drums": 1.0, "bass": 0.9, "chords": 0.6, "pad": 0.4, "melody": 0.8}
# how loud each section plays (velocity scale) and how busy the drums are (0-2)
SECTION_DYNAMICS = {"intro": 0.7, "verse": 0.82, "chorus": 1.0, "bridge": 0.75, "outro": 0.68}
SECTION_INTENSITY = {"intro": 0, "verse": 1, "chorus": 2, "bridge": 1, "outro": 0}


@dataclass(frozen=True)
class Note:
    pitch: int
    start_seconds: float
    duration_seconds: float
    velocity: int = 90


@dataclass
class Part:
    name: str
    program: int
    is_drum: bool
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    name: str
    start_bar: int
    bars: int


@dataclass
class Arrangement:
    style: Style
    key: Key
    meter: Meter
    total_bars: int
    sections: list[Section]
    chords: list[Chord]  # one per bar
    parts: dict[str, Part]
    length_seconds: float  # where the music (not its ringing tail) ends


def plan_form(total_bars: int, loop: bool = False) -> list[Section]:
    """Sections covering exactly ``total_bars``, scaled to the length: 8-bar sections in
    long pieces, 4 in medium ones, 2 in short ones; intro and outro unless looping."""
    unit = 8 if total_bars >= 40 else 4 if total_bars >= 12 else 2
    edge = 0 if loop or total_bars < 6 else max(1, unit // 2)
    if total_bars >= 24 and not loop:
        edge = unit // 2 if unit == 8 else 2
    sections = [Section("intro", 0, edge)] if edge else []
    middle = total_bars - 2 * edge
    cycle = ("verse", "chorus", "verse", "chorus", "bridge", "chorus")
    bar, index = edge, 0
    while bar < edge + middle:
        name = cycle[index % len(cycle)] if index < len(cycle) else ("verse", "chorus")[index % 2]
        length = min(unit, edge + middle - bar)
        if sections and sections[-1].name == name:
            previous = sections.pop()
            sections.append(Section(name, previous.start_bar, previous.bars + length))
        else:
            sections.append(Section(name, bar, length))
        bar += length
        index += 1
    if edge:
        sections.append(Section("outro", total_bars - edge, edge))
    return sections


def arrange(
    style: Style,
    key: Key,
    meter: Meter,
    total_bars: int,
    rng: np.random.Generator,
    loop: bool = False,
    drums_on: bool = True,
    programs: dict[str, int] | None = None,
    melody: list[Note] | None = None,
    chords: list[Chord] | None = None,
) -> Arrangement:
    """Write every part. ``melody``/``chords`` given (arranging around a hum) replace the
    composed ones; ``programs`` overrides the style's instruments per part."""
    sections = plan_form(total_bars, loop)
    bar_chords = chords or _progression(style, key, sections, rng, loop)
    chosen = _part_programs(style, drums_on, programs)
    parts = {name: Part(name, program, name == "drums") for name, program in chosen.items()}
    end_seconds = total_bars * meter.bar_seconds
    ending = not loop
    writer = _Writer(style, key, meter, rng, bar_chords, sections, ending)
    for section in sections:
        for offset in range(section.bars):
            bar = section.start_bar + offset
            last_of_section = offset == section.bars - 1
            if "drums" in parts:
                writer.drums(parts["drums"], bar, section, last_of_section)
            if "bass" in parts:
                writer.bass(parts["bass"], bar, section)
            if "chords" in parts:
                writer.comp(parts["chords"], bar, section)
            if "pad" in parts:
                writer.pad(parts["pad"], bar, section)
    if "melody" in parts:
        if melody is not None:
            parts["melody"].notes.extend(melody)
        else:
            writer.melody(parts["melody"])
    return Arrangement(style, key, meter, total_bars, sections, bar_chords, parts, end_seconds)


def _part_programs(style: Style, drums_on: bool, overrides: dict[str, int] | None) -> dict[str, int]:
    chosen: dict[str, int] = {}
    if drums_on and style.groove is not None:
        chosen["drums"] = 0
    for name in ("bass", "chords", "pad", "melody"):
        program = getattr(style.programs, name)
        if program is not None:
            chosen[name] = program
    for name, program in (overrides or {}).items():
        if name == "drums":
            continue
        chosen[name] = program
    return {name: chosen[name] for name in PART_ORDER if name in chosen}


def _progression(style: Style, key: Key, sections: list[Section], rng: np.random.Generator, loop: bool) -> list[Chord]:
    """One chord a bar: verses on the first progression, choruses the second, bridges the
    third, intro/outro on the first; the piece ends on the tonic (unless it loops)."""
    progs = list(style.progressions)
    order = [0, 1, 2] if len(progs) >= 3 else [0, 1, 1]
    if rng.random() < 0.5 and len(progs) >= 2:
        order[0], order[1] = order[0], order[1]  # keep verse/chorus roles; vary rotation below
    rotation = int(rng.integers(0, 2)) * 2  # start a cycle on its first or third chord
    per_section = {
        "intro": progs[order[0]],
        "verse": progs[order[0]],
        "chorus": progs[order[1]],
        "bridge": progs[order[2]],
        "outro": progs[order[0]],
    }
    chords: list[Chord] = []
    for section in sections:
        degrees = per_section[section.name]
        if section.name == "bridge" and rotation:
            degrees = degrees[rotation:] + degrees[:rotation]
        for offset in range(section.bars):
            degree = degrees[offset % len(degrees)]
            chords.append(chord_on(key, degree, style.sevenths))
    if chords:
        chords[0] = chord_on(key, 0, style.sevenths)  # the piece opens on its tonic
    if not loop and len(chords) >= 2:
        # IV - V - I (iv - V - i): the cadence that names the key beyond doubt
        if len(chords) >= 4:
            chords[-3] = chord_on(key, 3, style.sevenths)
        chords[-2] = chord_on(key, 4, style.sevenths)
        chords[-1] = chord_on(key, 0, False)
    return chords


class _Writer:
    """Writes the parts bar by bar; holds the state that carries across bars."""

    def __init__(
        self,
        style: Style,
        key: Key,
        meter: Meter,
        rng: np.random.Generator,
        chords: list[Chord],
        sections: list[Section],
        ending: bool,
    ) -> None:
        self.style, self.key, self.meter, self.rng = style, key, meter, rng
        self.chords, self.sections, self.ending = chords, sections, ending
        self.total_bars = len(chords)
        self._voicing: tuple[int, ...] | None = None
        self._pad_voicing: tuple[int, ...] | None = None

    # --- helpers -------------------------------------------------------------------
    def _note(self, part: Part, pitch: int, bar: int, step: float, length_steps: float, velocity: float) -> None:
        steps = self.meter.steps_per_bar
        start_step = bar * steps + step
        end_step = min(start_step + length_steps, self.total_bars * steps)
        start = self.meter.seconds(start_step)
        end = self.meter.seconds(end_step)
        if end - start <= 0.005:
            return
        level = int(np.clip(round(velocity), 1, 127))
        part.notes.append(Note(int(pitch), start, end - start, level))

    def _velocity(self, base: float, section: Section, jitter: float = 6.0) -> float:
        energy = 0.55 + 0.45 * self.style.energy
        return base * energy * SECTION_DYNAMICS[section.name] + float(self.rng.normal(0, jitter / 3))

    def _is_final_bar(self, bar: int) -> bool:
        return self.ending and bar == self.total_bars - 1

    def _bass_root(self, chord: Chord) -> int:
        return 36 + ((chord.root - 36) % 12)  # C2..B2

    # --- drums ---------------------------------------------------------------------
    def drums(self, part: Part, bar: int, section: Section, last_of_section: bool) -> None:
        style, meter = self.style, self.meter
        assert style.groove is not None
        intensity = SECTION_INTENSITY[section.name]
        if style.energy < 0.5:
            intensity = min(intensity, 1)
        if self._is_final_bar(bar):
            self._note(part, drums.KICK, bar, 0, 2, self._velocity(110, section))
            self._note(part, drums.CRASH, bar, 0, 8, self._velocity(100, section))
            return
        next_starts = last_of_section and bar + 1 < self.total_bars
        fill = next_starts and section.bars >= 2
        crash = (
            bar == section.start_bar
            and section.name in ("chorus", "outro")
            or (bar == section.start_bar and section.name == "verse" and section.start_bar > 0)
        )
        for hit in drums.bar_hits(style.groove, meter, intensity, fill, crash):
            self._note(part, hit.note, bar, hit.step, 1, self._velocity(hit.velocity, section, 8))

    # --- bass ----------------------------------------------------------------------
    def bass(self, part: Part, bar: int, section: Section) -> None:
        chord = self.chords[bar]
        root = self._bass_root(chord)
        fifth = root + ((chord.pitch_classes[2] - chord.root) % 12)
        third = root + ((chord.pitch_classes[1] - chord.root) % 12)
        meter, steps = self.meter, self.meter.steps_per_bar
        beat = meter.steps_per_beat
        velocity = self._velocity(96, section)
        pattern = self.style.bass_pattern
        if (
            self._is_final_bar(bar)
            or section.name in ("intro",)
            and self.style.energy >= 0.5
            and pattern not in ("whole", "piano_left")
        ):
            self._note(part, root, bar, 0, steps, velocity)
            return
        if steps != 16 and pattern not in ("whole", "piano_left", "waltz"):
            pattern = "beats"
        next_root = self._bass_root(self.chords[bar + 1]) if bar + 1 < self.total_bars else root
        events: list[tuple[float, float, int]]  # (step, length, pitch)
        if pattern == "whole":
            events = [(0, steps, root)]
        elif pattern == "piano_left":
            events = [(0, steps, root - 12 if root >= 43 else root), (0, steps, fifth)]
        elif pattern == "waltz":
            events = [(0, beat, root)]
        elif pattern == "beats":
            events = [(b * beat, beat, root if b % 2 == 0 else fifth) for b in range(meter.beats_per_bar)]
        elif pattern == "hiphop":
            events = [(0, 6, root), (10, 4, root), (14, 2, fifth)]
        elif pattern == "octaves":
            events = [(s, 1.6, root + (12 if (s // 2) % 2 else 0)) for s in range(2, 16, 4)]
            events += [(s, 1.6, root) for s in range(0, 16, 4)] if section.name == "chorus" else []
        elif pattern == "eighths":
            events = [(s, 1.7, root if s < 14 else fifth) for s in range(0, 16, 2)]
        elif pattern == "root_fifth":
            events = [(0, 6, root), (8, 4, fifth), (12, 3, root)]
        elif pattern == "walking":
            approach = next_root - 1 if self.rng.random() < 0.5 else next_root + 1
            events = [(0, 4, root), (4, 4, third), (8, 4, fifth), (12, 4, approach)]
        elif pattern == "ostinato":
            events = [(s, 1.8, root if s % 8 else root + 12 if s == 8 else root) for s in range(0, 16, 2)]
        elif pattern == "808":
            events = [(0, 10, root), (10, 6, root if self.rng.random() < 0.6 else root + 12)]
        elif pattern == "funk":
            events = [
                (0, 2, root),
                (3, 1, root + 12),
                (6, 1, root),
                (8, 2, fifth),
                (10, 1, root + 12),
                (13, 1, root),
                (14, 2, third),
            ]
        elif pattern == "reggae":
            events = [(0, 3, root), (4, 2, root), (6, 2, third), (8, 4, fifth), (12, 3, root)]
        else:
            events = [(0, steps, root)]
        for step, length, pitch in events:
            self._note(part, pitch, bar, step, length, velocity)

    # --- chords --------------------------------------------------------------------
    def comp(self, part: Part, bar: int, section: Section) -> None:
        chord = self.chords[bar]
        pattern = self.style.comp_pattern
        low, high = (40, 64) if pattern == "power" else (52, 76)
        voicing = voice_chord(chord, self._voicing, low, high)
        self._voicing = voicing
        meter, steps, beat = self.meter, self.meter.steps_per_bar, self.meter.steps_per_beat
        velocity = self._velocity(80, section)
        if self._is_final_bar(bar):
            for pitch in voicing:
                self._note(part, pitch, bar, 0, steps, velocity)
            return
        events: list[tuple[float, float, tuple[int, ...]]]
        if pattern in ("block", "pad"):
            events = [(0, steps, voicing)]
            if pattern == "block" and section.name != "intro":
                events = [(0, steps * 5 / 8, voicing), (steps * 5 / 8 + 1, steps * 3 / 8 - 1, voicing)]
        elif pattern == "pulse":
            events = [(b * beat, beat * 0.8, voicing) for b in range(meter.beats_per_bar)]
        elif pattern == "stabs":
            events = [(b * beat + beat / 2, beat / 3, voicing) for b in range(meter.beats_per_bar)]
        elif pattern == "skank":
            events = [(b * beat, beat / 3, voicing) for b in range(1, meter.beats_per_bar, 2)]
        elif pattern == "waltz":
            events = [(b * beat, beat * 0.7, voicing) for b in range(1, meter.beats_per_bar)]
        elif pattern == "comp":
            events = [(0, 3, voicing), (6, 2, voicing)] if steps == 16 else [(0, beat, voicing)]
            if self.rng.random() < 0.4 and steps == 16:
                events.append((11, 2, voicing))
        elif pattern == "power":
            root = voicing[0]
            power = (root, root + 7, root + 12)
            events = [(s, 1.8, power) for s in range(0, steps, 2)]
        elif pattern in ("arpeggio", "fingerpick", "ostinato"):
            tones = list(voicing) + [voicing[0] + 12]
            every = 1 if pattern == "ostinato" else 2
            per_beat = beat // every
            if pattern == "ostinato":
                order = [0, 1, 0, 2, 0, 1, 0, 3]
            elif per_beat == 3:  # compound time: the figure turns once a beat
                order = [0, 1, 2, 3, 2, 1] if pattern == "arpeggio" else [0, 2, 1, 3, 1, 2]
            elif pattern == "fingerpick":
                order = [0, 2, 1, 3, 0, 2, 1, 3]
            else:
                order = [0, 1, 2, 3, 2, 1, 2, 3]
            sustain = 3.0 if pattern != "ostinato" else 0.9
            for index, at in enumerate(range(0, steps, every)):
                pitch = tones[order[index % len(order)] % len(tones)]
                accent = 1.25 if at % beat == 0 else 0.8  # the beat leads the figure
                self._note(part, pitch, bar, at, sustain, velocity * accent)
            return
        else:
            events = [(0, steps, voicing)]
        for step, length, pitches in events:
            for pitch in pitches:
                self._note(part, pitch, bar, step, length, velocity)

    def pad(self, part: Part, bar: int, section: Section) -> None:
        if section.name == "verse" and self.style.comp_pattern != "pad" and self.style.energy >= 0.5:
            return  # the pad opens up choruses and quiet sections, not every verse
        chord = self.chords[bar]
        voicing = voice_chord(chord, self._pad_voicing, 60, 84)
        self._pad_voicing = voicing
        for pitch in voicing:
            self._note(part, pitch, bar, 0, self.meter.steps_per_bar, self._velocity(70, section, 3))

    # --- melody --------------------------------------------------------------------
    def melody(self, part: Part) -> None:
        motifs: dict[str, _Motif] = {}
        for section in self.sections:
            if section.name in ("intro", "outro") and self.total_bars > 4:
                continue
            if section.name not in motifs:
                motifs[section.name] = self._new_motif(section.name)
            motif = motifs[section.name]
            for offset in range(section.bars):
                bar = section.start_bar + offset
                phrase_bar = offset % 4
                variant = self._variant(motif, phrase_bar, offset // 4)
                cadence = phrase_bar == 3 or offset == section.bars - 1
                self._melody_bar(part, bar, section, variant, cadence)
        if self.ending and self.total_bars > 1:
            final = self.total_bars - 1
            low = self.style.melody_range[0]
            tonic = low + ((self.key.tonic - low) % 12)  # the melody comes home to the tonic
            part.notes[:] = [n for n in part.notes if n.start_seconds < final * self.meter.bar_seconds - 1e-9]
            self._note(part, tonic, final, 0, self.meter.steps_per_bar, 80)

    def _new_motif(self, section_name: str) -> _Motif:
        steps, beat = self.meter.steps_per_bar, self.meter.steps_per_beat
        density = self.style.melody_density * (1.3 if section_name == "chorus" else 1.0)
        grid = 2 if density < 0.7 else 1  # eighths, or sixteenths in busy styles
        onsets = [0]
        for step in range(grid, steps, grid):
            on_beat = step % beat == 0
            chance = density * (1.2 if on_beat else 0.7)
            if self.rng.random() < chance:
                onsets.append(step)
        contour = [0]
        for _ in onsets[1:]:
            move = int(self.rng.choice([-2, -1, -1, 1, 1, 2, 3, -3]))
            contour.append(int(np.clip(contour[-1] + move, -4, 5)))
        register = 2 if section_name == "chorus" else 0  # choruses sing a third higher
        return _Motif(tuple(onsets), tuple(contour), register)

    def _variant(self, motif: _Motif, phrase_bar: int, repeat: int) -> _Motif:
        """Development: the motif, moved up (sequence), then inverted or ornamented."""
        if phrase_bar == 1:
            return _Motif(motif.onsets, tuple(c + 2 for c in motif.contour), motif.register)
        if phrase_bar == 2 and repeat % 2 == 1:
            return _Motif(motif.onsets, tuple(-c for c in motif.contour), motif.register)
        if phrase_bar == 2:
            extra = tuple(
                sorted(
                    set(motif.onsets)
                    | {
                        o + 1
                        for o in motif.onsets
                        if o + 1 < self.meter.steps_per_bar and self.meter.steps_per_bar == 16
                    }
                )
            )
            contour = tuple(motif.contour[min(i, len(motif.contour) - 1)] for i in range(len(extra)))
            return _Motif(extra, contour, motif.register)
        return motif

    def _melody_bar(self, part: Part, bar: int, section: Section, motif: _Motif, cadence: bool) -> None:
        chord = self.chords[bar]
        steps, beat = self.meter.steps_per_bar, self.meter.steps_per_beat
        low, high = self.style.melody_range
        anchor_pitch = self._nearest_chord_tone((low + high) // 2 - 4 + 2 * motif.register, chord)
        anchor_degree = self._degree_of(anchor_pitch)
        onsets = motif.onsets
        if cadence:
            onsets = tuple(o for o in onsets if o < steps // 2) or (0,)
        velocity = self._velocity(92, section)
        for index, onset in enumerate(onsets):
            end = onsets[index + 1] if index + 1 < len(onsets) else steps
            if cadence and index == len(onsets) - 1:
                end = steps
            degree = anchor_degree + motif.contour[min(index, len(motif.contour) - 1)]
            pitch = self.key.degree_pitch(degree, 0)
            if onset % beat == 0 or (cadence and index == len(onsets) - 1):
                pitch = self._nearest_chord_tone(pitch, chord)  # strong beats sit on the harmony
            while pitch > high:
                pitch -= 12
            while pitch < low:
                pitch += 12
            accent = 1.08 if onset % beat == 0 else 0.92
            self._note(part, pitch, bar, onset, max(1.0, (end - onset) * 0.92), velocity * accent)

    def _degree_of(self, pitch: int) -> int:
        scale = self.key.scale_pitch_classes()
        octave = (pitch - self.key.tonic) // 12
        pc = pitch % 12
        index = min(range(7), key=lambda i: min((pc - scale[i]) % 12, (scale[i] - pc) % 12))
        return 7 * octave + index

    def _nearest_chord_tone(self, pitch: int, chord: Chord) -> int:
        candidates = [p for p in range(pitch - 6, pitch + 7) if p % 12 in chord.pitch_classes[:3]]
        return min(candidates, key=lambda p: (abs(p - pitch), p))


@dataclass(frozen=True)
class _Motif:
    onsets: tuple[int, ...]  # steps within the bar
    contour: tuple[int, ...]  # scale steps from the bar's anchor, one per onset
    register: int  # scale steps added to the anchor (choruses higher)
