"""Drum grooves per genre, written on the step grid, with fills at section ends.

A groove is layers of (General MIDI drum note, pattern, lowest intensity that plays it).
Pattern characters per step: ``X`` accent, ``x`` hit, ``o`` ghost note, ``.`` rest.
Section intensity 0 (intro, outro: the light layers), 1 (verse), 2 (chorus: everything).
Grooves are written for 4/4 (16 steps); in 3/4 and 6/8 the generic groove of that meter
plays instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiomill.music.meter import Meter

KICK, RIM, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
LOW_FLOOR_TOM, HIGH_FLOOR_TOM, LOW_TOM, MID_TOM, HIGH_TOM = 41, 43, 45, 47, 50
CRASH, RIDE, TAMBOURINE, SHAKER = 49, 51, 54, 70

Layer = tuple[int, str, int]

GROOVES: dict[str, tuple[Layer, ...]] = {
    "four_on_floor": (
        (KICK, "X...x...X...x...", 0),
        (CLOSED_HAT, "..x...x...x...x.", 0),
        (CLAP, "....x.......x...", 1),
        (CLOSED_HAT, "o.o.o.o.o.o.o.o.", 1),
        (OPEN_HAT, "..x...x...x...x.", 2),
        (SHAKER, "oooooooooooooooo", 2),
    ),
    "backbeat": (
        (KICK, "X.......x.x.....", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (SNARE, "....X.......X...", 1),
        (CLAP, "....x.......x...", 2),
        (KICK, "..............o.", 2),
    ),
    "rock": (
        (KICK, "X.....x.x.......", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (SNARE, "....X.......X...", 1),
        (KICK, "..........x.....", 2),
        (RIDE, "x.x.x.x.x.x.x.x.", 2),
    ),
    "pop": (
        (KICK, "X.....x...x.....", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (SNARE, "....X.......X...", 1),
        (CLAP, "....x.......x...", 2),
        (TAMBOURINE, "..x...x...x...x.", 2),
    ),
    "boom_bap": (
        (KICK, "X.........x.....", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (SNARE, "....X.......X...", 1),
        (KICK, ".......o.....o..", 1),
        (OPEN_HAT, "..............x.", 2),
    ),
    "swing": (
        (RIDE, "x...x.x.x...x.x.", 0),
        (PEDAL_HAT, "....x.......x...", 0),
        (KICK, "o...o...o...o...", 1),
        (SNARE, "..........o...o.", 2),
    ),
    "light": (
        (SHAKER, "x.o.x.o.x.o.x.o.", 0),
        (KICK, "x.......x.......", 1),
        (RIM, "....x.......x...", 1),
        (TAMBOURINE, "....x.......x...", 2),
    ),
    "epic": (
        (LOW_FLOOR_TOM, "X.....x.X.....x.", 0),
        (KICK, "X.......X.......", 1),
        (HIGH_FLOOR_TOM, "....x..x....x.xx", 1),
        (SNARE, "....X.......X...", 2),
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 2),
    ),
    "trap": (
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (KICK, "X......x..x.....", 1),
        (CLAP, "........X.......", 1),
        (SNARE, "........x.......", 1),
        (CLOSED_HAT, ".o.o.o.o.o.oxoxo", 2),
        (OPEN_HAT, "......x.........", 2),
    ),
    "funk": (
        (KICK, "X.....x...x..x..", 0),
        (CLOSED_HAT, "xoxoxoxoxoxoxo.o", 0),
        (SNARE, "....X..o.o..X..o", 1),
        (OPEN_HAT, "..............x.", 2),
    ),
    "one_drop": (
        (CLOSED_HAT, "x.x.x.x.x.x.x.x.", 0),
        (RIM, "........x.......", 0),
        (KICK, "........X.......", 1),
        (SNARE, "........x.......", 2),
    ),
}

GENERIC_GROOVES: dict[str, tuple[Layer, ...]] = {
    "3/4": (
        (KICK, "X...........", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.", 0),
        (SNARE, "....x...x...", 1),
        (RIDE, "x...x...x...", 2),
    ),
    "6/8": (
        (KICK, "X.....x.....", 0),
        (CLOSED_HAT, "x.x.x.x.x.x.", 0),
        (SNARE, "......X.....", 1),
        (RIDE, "x.....x.....", 2),
    ),
}

_VELOCITY = {"X": 112, "x": 92, "o": 46}


@dataclass(frozen=True)
class DrumHit:
    note: int
    step: float  # from the start of the bar
    velocity: int


def groove_layers(groove: str, meter: Meter) -> tuple[Layer, ...]:
    layers = GROOVES[groove]
    if len(layers[0][1]) != meter.steps_per_bar:
        return GENERIC_GROOVES[meter.time_signature]
    return layers


def bar_hits(groove: str, meter: Meter, intensity: int, fill: bool, crash: bool) -> list[DrumHit]:
    """The hits of one bar. ``fill``: the last beat (two at intensity 2) becomes a fill
    leading into the next section; ``crash``: a crash cymbal on the downbeat."""
    steps = meter.steps_per_bar
    fill_steps = meter.steps_per_beat * (2 if intensity >= 2 and meter.beats_per_bar >= 3 else 1)
    fill_start = steps - fill_steps if fill else steps
    hits: list[DrumHit] = []
    for note, pattern, level in groove_layers(groove, meter):
        if level > intensity:
            continue
        for step, char in enumerate(pattern):
            if char in _VELOCITY and (step < fill_start or note in (KICK,) and step == fill_start):
                hits.append(DrumHit(note, step, _VELOCITY[char]))
    if fill:
        hits.extend(_fill(fill_start, fill_steps, intensity))
    if crash:
        hits.append(DrumHit(CRASH, 0, 100))
    return hits


def _fill(start: int, length: int, intensity: int) -> list[DrumHit]:
    """Sixteenths down the toms (or a snare build at low intensity), getting louder."""
    toms = (HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM, HIGH_FLOOR_TOM, LOW_FLOOR_TOM)
    hits = []
    for index in range(length):
        if intensity == 0 and index % 2:
            continue  # a sparse fill in quiet sections
        note = SNARE if intensity == 0 or index < length // 2 else toms[min(len(toms) - 1, index * len(toms) // length)]
        velocity = 60 + int(50 * (index + 1) / length)
        hits.append(DrumHit(note, start + index, velocity))
    return hits
