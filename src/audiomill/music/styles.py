"""The style catalogue: what the composer knows how to write.

Each style is described twice: in words rich enough for a sentence-embedding model to match
a prompt against (genre, mood, tempo, instruments, scale, groove, energy curve; short labels
mislead such a model, rich descriptions do not), and as the choices the arranger needs
(tempo range, mode, progressions, drum groove, bass and comping patterns, General MIDI
programs, swing, energy).

Progressions are scale degrees (0 = tonic) of the style's mode, one chord per bar; the
first is used in verses, the second in choruses, the third (if any) in bridges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audiomill.music.theory import Mode

TimeSignature = str  # "4/4", "3/4", "6/8"


@dataclass(frozen=True)
class Programs:
    """General MIDI programs (0-based) per pitched part; None: the part is not played."""

    melody: int | None
    chords: int | None
    bass: int | None
    pad: int | None = None


@dataclass(frozen=True)
class Style:
    name: str
    genre: str
    mood: str
    description: str  # what the embedding model compares prompts with
    tempo_range: tuple[int, int]
    mode: Mode
    progressions: tuple[tuple[int, ...], ...]
    groove: str | None  # drum groove in music/drums.py; None: no drums
    bass_pattern: str
    comp_pattern: str
    programs: Programs
    time_signature: TimeSignature = "4/4"
    sevenths: bool = False
    swing: float = 0.0  # 0 straight; 0.33 is a triplet swing of the off-beat
    energy: float = 0.6  # 0-1: velocity and density at full (chorus) intensity
    melody_density: float = 0.5  # 0-1: notes per beat of the melody, roughly
    melody_range: tuple[int, int] = (64, 84)
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def default_bpm(self) -> int:
        return round(sum(self.tempo_range) / 2)

    def describe(self) -> str:
        """The text the embedding model sees: genre, mood and the description."""
        return f"{self.genre} music. {self.mood}. {self.description}"


STYLES: tuple[Style, ...] = (
    Style(
        name="ambient",
        genre="calm ambient",
        mood="relaxing, peaceful, meditative, dreamy, serene",
        description=(
            "Slow relaxing ambient soundscape for meditation, yoga, sleep, spa and "
            "mindfulness; a sunset on a quiet beach, gentle waves, floating; warm evolving "
            "synth pads, gently rippling harp arpeggios, soft sparse piano notes, a deep "
            "held bass, no drums at all; major scale; low energy throughout, slow swells."
        ),
        tempo_range=(60, 76),
        mode="major",
        progressions=((0, 3, 5, 4), (3, 0, 4, 5), (5, 3, 0, 4)),
        groove=None,
        bass_pattern="whole",
        comp_pattern="arpeggio",
        programs=Programs(melody=0, chords=46, bass=32, pad=89),
        energy=0.35,
        melody_density=0.2,
        melody_range=(67, 86),
        tags=("meditation", "relax", "sleep", "calm"),
    ),
    Style(
        name="solo_piano",
        genre="solo piano",
        mood="emotional, reflective, tender, romantic, nostalgic",
        description=(
            "Expressive solo piano piece, classical or contemporary neo-classical, played by "
            "one pianist: a singing right-hand melody over flowing left-hand arpeggios; "
            "intimate, emotional, reflective; no band, no drums; major or minor; moderate "
            "slow tempo; grows gently in the middle and fades at the end."
        ),
        tempo_range=(66, 92),
        mode="major",
        progressions=((0, 5, 3, 4), (3, 4, 0, 5), (5, 3, 1, 4)),
        groove=None,
        bass_pattern="piano_left",
        comp_pattern="arpeggio",
        programs=Programs(melody=0, chords=0, bass=0),
        energy=0.5,
        melody_density=0.45,
        tags=("piano",),
    ),
    Style(
        name="lofi",
        genre="lo-fi hip hop",
        mood="chill, mellow, cozy, nostalgic, laid-back",
        description=(
            "Lo-fi hip hop beats to study and relax to: jazzy electric piano (Rhodes) chords "
            "with sevenths, dusty swung boom-bap drums with a soft kick and snare, warm "
            "upright bass, a lazy vibraphone melody; rainy day, coffee shop, late night "
            "homework; minor key; relaxed steady energy."
        ),
        tempo_range=(70, 90),
        mode="minor",
        progressions=((0, 3, 6, 2), (5, 3, 0, 4), (3, 6, 2, 5)),
        groove="boom_bap",
        bass_pattern="hiphop",
        comp_pattern="block",
        programs=Programs(melody=11, chords=4, bass=32),
        sevenths=True,
        swing=0.25,
        energy=0.5,
        melody_density=0.35,
        tags=("study", "lofi", "chill"),
    ),
    Style(
        name="house",
        genre="electronic dance music (EDM, house)",
        mood="upbeat, energetic, euphoric, party, uplifting",
        description=(
            "Upbeat electronic dance music for the club and festival: four-on-the-floor kick "
            "drum, claps on two and four, open hi-hats on the off-beats, pumping synth bass "
            "in octaves, bright saw synth lead, supersaw chord stabs, airy pad; minor key; "
            "builds up, drops, high energy in the chorus."
        ),
        tempo_range=(120, 128),
        mode="minor",
        progressions=((0, 5, 2, 6), (5, 3, 0, 4), (3, 4, 5, 4)),
        groove="four_on_floor",
        bass_pattern="octaves",
        comp_pattern="stabs",
        programs=Programs(melody=81, chords=90, bass=38, pad=89),
        energy=0.9,
        melody_density=0.55,
        tags=("edm", "dance", "club"),
    ),
    Style(
        name="synthwave",
        genre="retro synthwave",
        mood="nostalgic, driving, neon, cool, adrenaline at night",
        description=(
            "Retro 1980s synthwave and outrun: driving through a neon city at night, "
            "analog synthesizers, pulsing eighth-note synth bass, big gated snare backbeat, "
            "polysynth pads, a soaring lead; cyberpunk, video game, adrenaline; minor key; "
            "steady driving energy."
        ),
        tempo_range=(96, 118),
        mode="minor",
        progressions=((0, 5, 2, 6), (3, 5, 6, 0), (5, 6, 0, 4)),
        groove="backbeat",
        bass_pattern="eighths",
        comp_pattern="pad",
        programs=Programs(melody=81, chords=90, bass=39, pad=88),
        energy=0.75,
        melody_density=0.45,
        tags=("80s", "retro", "synth"),
    ),
    Style(
        name="rock",
        genre="rock",
        mood="energetic, powerful, rebellious, anthemic",
        description=(
            "Energetic rock band: distorted electric guitar power chords, overdriven lead "
            "guitar, electric bass in driving eighth notes, loud drums with crash cymbals "
            "and a heavy backbeat; stadium anthem, sports, workout, adrenaline; major key; "
            "high energy, biggest in the chorus."
        ),
        tempo_range=(112, 140),
        mode="major",
        progressions=((0, 6, 3, 0), (3, 0, 4, 5), (5, 3, 4, 4)),
        groove="rock",
        bass_pattern="eighths",
        comp_pattern="power",
        programs=Programs(melody=29, chords=30, bass=34),
        energy=0.9,
        melody_density=0.5,
        melody_range=(62, 81),
        tags=("guitar", "band"),
    ),
    Style(
        name="pop",
        genre="pop",
        mood="happy, bright, catchy, feel-good, uplifting",
        description=(
            "Catchy modern pop song: bright piano chords, acoustic guitar, punchy drums with "
            "claps, a memorable hook melody; summer, radio, commercial, advertising, happy "
            "and uplifting; major key; verses lighter, choruses bigger."
        ),
        tempo_range=(100, 124),
        mode="major",
        progressions=((0, 4, 5, 3), (5, 3, 0, 4), (3, 4, 2, 5)),
        groove="pop",
        bass_pattern="root_fifth",
        comp_pattern="pulse",
        programs=Programs(melody=80, chords=0, bass=33, pad=25),
        energy=0.75,
        melody_density=0.55,
        tags=("happy", "catchy"),
    ),
    Style(
        name="jazz",
        genre="jazz",
        mood="sophisticated, smooth, relaxed, late-night, classy",
        description=(
            "Small jazz combo in a late-night club: saxophone melody, piano comping seventh "
            "chords on ii-V-I progressions, walking upright bass, swing ride cymbal with "
            "brushes and hi-hat on two and four; smooth, sophisticated, improvised; major "
            "key; medium swing energy."
        ),
        tempo_range=(100, 150),
        mode="major",
        progressions=((1, 4, 0, 5), (0, 5, 1, 4), (3, 2, 1, 4)),
        groove="swing",
        bass_pattern="walking",
        comp_pattern="comp",
        programs=Programs(melody=65, chords=0, bass=32),
        sevenths=True,
        swing=0.33,
        energy=0.6,
        melody_density=0.6,
        melody_range=(60, 80),
        tags=("swing", "saxophone"),
    ),
    Style(
        name="acoustic",
        genre="acoustic folk",
        mood="warm, calm, gentle, hopeful, intimate",
        description=(
            "Calm acoustic guitar music, folk and singer-songwriter: fingerpicked steel "
            "string guitar, soft shaker and light kick, upright bass, a simple flute "
            "melody; campfire, countryside, background music for videos, warm and "
            "hopeful; major key; gentle energy."
        ),
        tempo_range=(84, 108),
        mode="major",
        progressions=((0, 3, 0, 4), (5, 3, 0, 4), (3, 4, 0, 0)),
        groove="light",
        bass_pattern="root_fifth",
        comp_pattern="fingerpick",
        programs=Programs(melody=73, chords=25, bass=32),
        energy=0.5,
        melody_density=0.4,
        tags=("guitar", "folk"),
    ),
    Style(
        name="cinematic",
        genre="epic orchestral cinematic",
        mood="epic, heroic, dramatic, powerful, triumphant",
        description=(
            "Epic orchestral film score and trailer music: driving string ostinato, "
            "heroic French horn and brass melody, choir, thundering taiko drums and "
            "timpani, cymbal crashes; battle, dragon, adventure, fantasy, victory; minor "
            "key; builds from quiet to a huge climax."
        ),
        tempo_range=(84, 108),
        mode="minor",
        progressions=((0, 5, 2, 6), (0, 3, 4, 0), (5, 6, 0, 4)),
        groove="epic",
        bass_pattern="ostinato",
        comp_pattern="ostinato",
        programs=Programs(melody=60, chords=48, bass=43, pad=52),
        energy=0.85,
        melody_density=0.35,
        melody_range=(57, 79),
        tags=("orchestra", "film", "epic"),
    ),
    Style(
        name="trap",
        genre="trap hip hop",
        mood="dark, aggressive, confident, hard",
        description=(
            "Hard trap and hip hop rap instrumental: booming 808 bass slides, rolling "
            "hi-hat triplets, snare and clap on beat three of a half-time groove, dark "
            "bell melody, ominous pad; street, urban, gangster, confident; minor key; "
            "heavy steady energy."
        ),
        tempo_range=(130, 150),
        mode="minor",
        progressions=((0, 0, 5, 4), (0, 5, 3, 4), (5, 5, 0, 4)),
        groove="trap",
        bass_pattern="808",
        comp_pattern="pad",
        programs=Programs(melody=14, chords=None, bass=38, pad=89),
        energy=0.8,
        melody_density=0.35,
        tags=("rap", "808", "hip hop"),
    ),
    Style(
        name="funk",
        genre="funk and disco",
        mood="groovy, funky, danceable, fun, sassy",
        description=(
            "Funky groove: slap bass with syncopated sixteenths, clean muted guitar chord "
            "stabs, tight drums with ghost notes and open hi-hat, brass section hits; "
            "1970s funk and disco, danceable and fun; minor key (dorian colour); lively "
            "energy."
        ),
        tempo_range=(100, 116),
        mode="minor",
        progressions=((0, 3, 0, 3), (5, 6, 0, 0), (3, 4, 3, 4)),
        groove="funk",
        bass_pattern="funk",
        comp_pattern="stabs",
        programs=Programs(melody=61, chords=27, bass=36),
        sevenths=True,
        energy=0.8,
        melody_density=0.45,
        tags=("groove", "disco"),
    ),
    Style(
        name="reggae",
        genre="reggae",
        mood="laid-back, sunny, relaxed, positive",
        description=(
            "Laid-back reggae: one-drop drum rhythm with the kick on beat three, offbeat "
            "skank chords on organ and guitar, deep round bass, a trumpet melody; island, "
            "Jamaica, beach, sunshine, summer; major key; relaxed steady energy."
        ),
        tempo_range=(70, 90),
        mode="major",
        progressions=((0, 3, 0, 4), (3, 4, 0, 5), (5, 3, 4, 4)),
        groove="one_drop",
        bass_pattern="reggae",
        comp_pattern="skank",
        programs=Programs(melody=56, chords=16, bass=33),
        energy=0.6,
        melody_density=0.35,
        tags=("island", "summer"),
    ),
    Style(
        name="waltz",
        genre="waltz",
        mood="elegant, romantic, graceful, nostalgic",
        description=(
            "Elegant waltz in three-four time: oom-pah-pah piano accompaniment, a singing "
            "violin melody, soft strings, pizzicato bass on the downbeat; ballroom, "
            "romance, old Vienna, a music box, a merry-go-round; major key; graceful, "
            "moderate energy."
        ),
        tempo_range=(120, 160),
        mode="major",
        progressions=((0, 4, 4, 0), (3, 0, 4, 0), (5, 1, 4, 4)),
        groove=None,
        bass_pattern="waltz",
        comp_pattern="waltz",
        programs=Programs(melody=40, chords=0, bass=45, pad=49),
        time_signature="3/4",
        energy=0.55,
        melody_density=0.45,
        tags=("3/4", "ballroom"),
    ),
    Style(
        name="chiptune",
        genre="chiptune 8-bit video game",
        mood="playful, adventurous, bouncy, nostalgic",
        description=(
            "Chiptune and 8-bit retro video game music: square wave lead melody, "
            "arpeggiated chords, bouncy bass, punchy simple drums; arcade, platformer, "
            "pixel art adventure, level theme; major key; fast and energetic."
        ),
        tempo_range=(130, 160),
        mode="major",
        progressions=((0, 5, 3, 4), (3, 4, 2, 5), (5, 3, 4, 0)),
        groove="pop",
        bass_pattern="octaves",
        comp_pattern="arpeggio",
        programs=Programs(melody=80, chords=81, bass=38),
        energy=0.8,
        melody_density=0.65,
        tags=("8-bit", "game"),
    ),
    Style(
        name="lullaby",
        genre="lullaby",
        mood="soft, tender, sleepy, innocent, soothing",
        description=(
            "Soft lullaby for a baby to fall asleep: a music box and celesta melody, "
            "gently rocking six-eight rhythm, harp arpeggios, a warm soft pad, no drums; "
            "bedtime, nursery, dreams, stars; major key; very low energy, fading away."
        ),
        tempo_range=(50, 66),
        mode="major",
        progressions=((0, 3, 0, 4), (0, 5, 3, 4), (3, 0, 4, 0)),
        groove=None,
        bass_pattern="beats",
        comp_pattern="arpeggio",
        programs=Programs(melody=10, chords=46, bass=32, pad=89),
        time_signature="6/8",
        energy=0.3,
        melody_density=0.3,
        melody_range=(67, 88),
        tags=("sleep", "baby", "6/8"),
    ),
)

STYLES_BY_NAME: dict[str, Style] = {style.name: style for style in STYLES}
