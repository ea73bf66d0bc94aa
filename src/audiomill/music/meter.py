"""Time signatures and the step grid every part is written on.

A bar is divided into steps of a sixteenth note. The beat that ``bpm`` counts is the
quarter note in 4/4 and 3/4 and the dotted quarter in 6/8 (two beats a bar, the pulse a
listener taps), so a 6/8 beat holds six steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiomill.errors import InvalidInput

TIME_SIGNATURES = ("4/4", "3/4", "6/8")


@dataclass(frozen=True)
class Meter:
    time_signature: str
    beats_per_bar: int
    steps_per_beat: int
    bpm: float
    swing: float = 0.0  # 0-0.5: how far the off-beat eighth is pushed toward the next beat

    @staticmethod
    def of(time_signature: str, bpm: float, swing: float = 0.0) -> Meter:
        if time_signature == "4/4":
            return Meter(time_signature, 4, 4, bpm, swing)
        if time_signature == "3/4":
            return Meter(time_signature, 3, 4, bpm, swing)
        if time_signature == "6/8":
            return Meter(time_signature, 2, 6, bpm, 0.0)  # compound time is already "swung"
        raise InvalidInput(f"time_signature must be one of {', '.join(TIME_SIGNATURES)}, got {time_signature!r}")

    @property
    def steps_per_bar(self) -> int:
        return self.beats_per_bar * self.steps_per_beat

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    @property
    def step_seconds(self) -> float:
        return self.beat_seconds / self.steps_per_beat

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.beat_seconds

    def seconds(self, step: float) -> float:
        """Time of a (fractional) step from the start, with swing applied to off-beats."""
        beat, within = divmod(step, self.steps_per_beat)
        if self.swing and self.steps_per_beat == 4:
            # piecewise-linear: the off-beat eighth (step 2) moves to 2 + 4 * swing / ... so
            # that swing 1/3 lands it on the last triplet; sixteenths in between follow
            moved = 2.0 + 2.0 * self.swing
            within = within * moved / 2.0 if within <= 2.0 else moved + (within - 2.0) * (4.0 - moved) / 2.0
        return (beat * self.steps_per_beat + within) * self.step_seconds
