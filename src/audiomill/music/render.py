"""Arrangement -> MIDI file and audio stems, rendered in-process through a SoundFont.

Each part is rendered on its own (tinysoundfont, one clone of the loaded SoundFont per
part, so the samples are in memory once; music/soundfont.py picks and loads it) so it becomes
its own stem; the stems are summed into the mix as they are rendered. Stems are parked on
disk as raw float32 (``StemFile``), so memory holds only the mix, whatever the length.

The stems are fitted to the exact duration here: cut to the sample with a fade-out at
the end, or, for a loop, with the ringing tail past the loop point added back onto the
start, so that playing the file end to end again continues seamlessly.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi  # type: ignore[import-untyped]

from audiomill.music.arrange import PART_GAIN, Arrangement, Part
from audiomill.music.soundfont import DRUM_BANK, load_soundfont

SAMPLE_RATE = 44100
CHANNELS = 2
SYNTH_GAIN_DB = -6.0  # tinysoundfont peaks above full scale at 0 dB with dense parts
LOOP_TAIL_SECONDS = 3.0  # how much of the ringing past a loop point wraps onto its start
_FADE_OUT_MAX_SECONDS = 2.0
_FLUSH_FRAMES = 1 << 16
_MAX_VOICES = 256


class StemFile:
    """One stem as raw interleaved float32 on disk: written in order, the head rewritable
    (for loop wrapping), read back in blocks."""

    def __init__(self, path: Path, frames: int) -> None:
        self.path = path
        self.frames = frames
        self._file = open(path, "w+b")  # noqa: SIM115 (closed by finish())
        self._written = 0

    def write(self, block: np.ndarray) -> None:  # (frames, channels)
        np.ascontiguousarray(block, dtype="<f4").tofile(self._file)
        self._written += block.shape[0]

    def add_to_head(self, tail: np.ndarray) -> None:
        """Add ``tail`` (frames, channels) onto the first frames already written."""
        count = min(tail.shape[0], self.frames)
        self._file.flush()
        self._file.seek(0)
        head = np.fromfile(self._file, dtype="<f4", count=count * CHANNELS).reshape(count, CHANNELS)
        self._file.seek(0)
        (head + tail[:count]).astype("<f4").tofile(self._file)
        self._file.seek(0, io.SEEK_END)

    def finish(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        if self._written != self.frames:
            raise RuntimeError(f"stem {self.path.name}: wrote {self._written} of {self.frames} frames")

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """(frames, channels) float32 blocks, in order."""
        self.finish()
        with open(self.path, "rb") as file:
            for start in range(0, self.frames, block_frames):
                count = min(block_frames, self.frames - start)
                yield np.fromfile(file, dtype="<f4", count=count * CHANNELS).reshape(count, CHANNELS)


def render_stems(
    arrangement: Arrangement,
    soundfont: Path,
    scratch_dir: Path,
    frames: int,
    loop: bool,
    sample_rate: int = SAMPLE_RATE,
    on_mix_block: Callable[[np.ndarray], None] | None = None,
) -> tuple[dict[str, StemFile], StemFile]:
    """Render every part, all in step block by block, to StemFiles of exactly ``frames``
    frames, and their sum (the mix) to another. ``on_mix_block`` sees each (frames,
    channels) block of the mix as it is made (not for loops, whose head changes at the
    end). Memory holds one block per part, whatever the length."""
    import tinysoundfont._tinysoundfont as tsf  # type: ignore[import-untyped]

    fade_frames = min(int(_FADE_OUT_MAX_SECONDS * sample_rate), frames // 8)
    tail_frames = int(LOOP_TAIL_SECONDS * sample_rate) if loop else 0
    presets = {(DRUM_BANK, 0) if part.is_drum else (0, part.program) for part in arrangement.parts.values()}
    loaded = load_soundfont(soundfont, presets)
    voices = []
    for name, part in arrangement.parts.items():
        # one clone of the loaded SoundFont per part (they share its samples): its own stem
        synth = tsf.SoundFont(loaded)
        synth.set_output(tsf.OutputMode.StereoInterleaved, sample_rate, SYNTH_GAIN_DB)
        synth.set_max_voices(_MAX_VOICES)
        channel = 9 if part.is_drum else 0
        synth.channel_set_bank(channel, DRUM_BANK if part.is_drum else 0)
        synth.channel_set_preset_number(channel, 0 if part.is_drum else part.program, part.is_drum)
        blocks = _synthesize(synth, channel, part, sample_rate, frames + tail_frames, _FLUSH_FRAMES)
        voices.append(
            (name, blocks, np.float32(PART_GAIN.get(name, 0.8)), StemFile(scratch_dir / f"{name}.f32", frames))
        )
    mix = StemFile(scratch_dir / "mix.f32", frames)
    tails: dict[str, list[np.ndarray]] = {name: [] for name, *_ in voices}
    for position in range(0, frames + tail_frames, _FLUSH_FRAMES):
        count = min(_FLUSH_FRAMES, frames + tail_frames - position)
        keep = max(0, min(count, frames - position))
        fade = None
        if not loop and fade_frames and position + keep > frames - fade_frames:
            fade = _fade_out(position, keep, frames, fade_frames)[:, None]
        mixed = np.zeros((keep, CHANNELS), np.float32)
        for name, blocks, gain, stem in voices:
            block = next(blocks) * gain
            body = block[:keep] if fade is None else block[:keep] * fade
            if keep:
                stem.write(body)
                mixed += body
            if keep < count:
                tails[name].append(block[keep:])
        if keep:
            mix.write(mixed)
            if on_mix_block is not None and not loop:
                on_mix_block(mixed)
    if loop:
        mix_tail = np.zeros((tail_frames, CHANNELS), np.float32)
        for name, _, _, stem in voices:
            tail = np.concatenate(tails[name]) if tails[name] else np.zeros((0, CHANNELS), np.float32)
            stem.add_to_head(tail)
            mix_tail[: tail.shape[0]] += tail
        mix.add_to_head(mix_tail)
    for *_, stem in voices:
        stem.finish()
    mix.finish()
    return {name: stem for name, _, _, stem in voices}, mix


def _fade_out(position: int, count: int, frames: int, fade_frames: int) -> np.ndarray:
    index = np.arange(position, position + count, dtype=np.float64)
    remaining = np.clip((frames - index) / fade_frames, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * remaining)).astype(np.float32)  # raised cosine


def _synthesize(
    synth: Any, channel: int, part: Part, sample_rate: int, frames: int, block_frames: int
) -> Iterator[np.ndarray]:
    """Drive the synthesizer note by note, sample-accurately; yields (block_frames, 2)
    float32 blocks (the last one shorter) covering ``frames`` frames. Each block is
    rendered in place, between events, into a fresh array."""
    events: list[tuple[int, int, int, int]] = []  # (frame, 0 = off | 1 = on, pitch, velocity)
    for note in part.notes:
        start = round(note.start_seconds * sample_rate)
        end = max(start + 1, round((note.start_seconds + note.duration_seconds) * sample_rate))
        events.append((start, 1, note.pitch, note.velocity))
        events.append((end, 0, note.pitch, 0))
    events.sort()  # at the same frame, note-offs (0) before note-ons (1): repeated notes retrigger
    events.append((frames, 0, -1, 0))  # the end: render up to it
    position = 0
    block = np.empty((min(block_frames, frames), CHANNELS), np.float32)
    filled = 0
    for frame, kind, pitch, velocity in events:
        frame = min(frame, frames)
        while position < frame:
            # render up to the event, cut at block boundaries
            count = min(frame - position, block.shape[0] - filled)
            synth.render(memoryview(block[filled : filled + count]).cast("B"), False)
            filled += count
            position += count
            if filled == block.shape[0]:
                yield block
                block = np.empty((min(block_frames, frames - position), CHANNELS), np.float32)
                filled = 0
        if pitch < 0 or frame >= frames or not 0 <= pitch <= 127:
            continue
        if kind:
            synth.channel_note_on(channel, pitch, min(max(velocity, 0), 127) / 127.0)
        else:
            synth.channel_note_off(channel, pitch)
    if filled:
        yield block[:filled]


def to_midi(arrangement: Arrangement) -> pretty_midi.PrettyMIDI:
    """The arrangement as a standard MIDI file: tempo, meter, key, one track per part."""
    meter = arrangement.meter
    midi = pretty_midi.PrettyMIDI(initial_tempo=_midi_tempo(arrangement))
    numerator, denominator = (int(x) for x in meter.time_signature.split("/"))
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    key_number = arrangement.key.tonic + (12 if arrangement.key.mode == "minor" else 0)
    midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    for name, part in arrangement.parts.items():
        instrument = pretty_midi.Instrument(program=part.program, is_drum=part.is_drum, name=name)
        for note in part.notes:
            instrument.notes.append(
                pretty_midi.Note(
                    note.velocity, note.pitch, note.start_seconds, note.start_seconds + note.duration_seconds
                )
            )
        midi.instruments.append(instrument)
    return midi


def _midi_tempo(arrangement: Arrangement) -> float:
    # MIDI tempo counts quarter notes; a 6/8 beat is a dotted quarter (1.5 quarters)
    meter = arrangement.meter
    return meter.bpm * (1.5 if meter.time_signature == "6/8" else 1.0)
