"""Which General MIDI SoundFont the composer renders with, and loading only what a piece plays.

The default is FluidR3_GM (MIT licence, Debian's ``fluid-soundfont-gm``) at
``/usr/share/sounds/sf2/FluidR3_GM.sf2``; ``scripts/ensure-system-packages.sh`` installs it.
``AUDIOMILL_SOUNDFONT`` names any other .sf2/.sf3 file, or ``timgm6mb`` for the small
SoundFont bundled with pretty_midi, which is GPL-2: an opt-in, never the default, since
audiomill ships under MIT.

tinysoundfont turns every sample of a SoundFont into float32 when it loads it: FluidR3_GM
(148 MB on disk) costs ~400 MB of memory and 0.8 s, for a piece that plays four or five
instruments. So a large .sf2 is cut down first to the presets a piece uses (their
instruments and samples, every index renumbered; ``subset_sf2``), typically 5-20 MB, and
loaded from memory. The parsed layout of the big file is kept per process; the samples
are read from it on demand.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pretty_midi  # type: ignore[import-untyped]

from audiomill.errors import ModelUnavailable

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
GPL_SOUNDFONT_NAME = "timgm6mb"
DRUM_BANK = 128
# .sf2 files larger than this are loaded as a subset of the presets a piece uses
SUBSET_ABOVE_BYTES = 16 * 1024 * 1024
_LOADED_KEEP = 2  # subsets kept loaded per process (a style's presets repeat); ~50 MB each


def bundled_gpl_soundfont() -> Path:
    """pretty_midi's TimGM6mb.sf2 (6 MB, GPL-2): only when asked for by name."""
    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


def resolve_soundfont(configured: Path | str | None) -> Path:
    """The SoundFont file to render with: ``configured`` (a path, or ``timgm6mb``), else
    the default FluidR3_GM; a clear error when it is not there."""
    if configured is not None and str(configured).strip().lower() == GPL_SOUNDFONT_NAME:
        path = bundled_gpl_soundfont()
    else:
        path = Path(configured) if configured else DEFAULT_SOUNDFONT
    if not path.is_file():
        if not configured:
            raise ModelUnavailable(
                f"the composer's SoundFont {path} is not installed: install Debian's fluid-soundfont-gm "
                "(MIT; `apt-get install fluid-soundfont-gm`, which scripts/ensure-system-packages.sh does), "
                "or set AUDIOMILL_SOUNDFONT to a General MIDI .sf2/.sf3 file, or to 'timgm6mb' for the "
                "SoundFont bundled with pretty_midi (GPL-2)"
            )
        raise ModelUnavailable(
            f"SoundFont {path} not found: set AUDIOMILL_SOUNDFONT to a General MIDI .sf2/.sf3 file, "
            f"to '{GPL_SOUNDFONT_NAME}' (pretty_midi's, GPL-2), or unset it for FluidR3_GM (MIT)"
        )
    return path


def load_soundfont(path: Path, presets: Iterable[tuple[int, int]]) -> Any:
    """A loaded tinysoundfont SoundFont holding at least ``presets`` ((bank, preset)
    pairs); clone it (``SoundFont(loaded)``) for each independent voice."""
    import tinysoundfont._tinysoundfont as tsf  # type: ignore[import-untyped]

    wanted = frozenset(presets)
    stat = path.stat()
    whole = stat.st_size <= SUBSET_ABOVE_BYTES or path.suffix.lower() != ".sf2"
    key = (str(path), stat.st_mtime_ns, stat.st_size, frozenset() if whole else wanted)
    with _LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    try:
        loaded = tsf.SoundFont(str(path)) if whole else tsf.SoundFont(subset_sf2(path, wanted))
    except (OSError, RuntimeError, ValueError, KeyError, IndexError, struct.error) as exc:
        raise ModelUnavailable(f"SoundFont {path} could not be loaded ({exc}); check AUDIOMILL_SOUNDFONT") from None
    with _LOCK:
        _LOADED[key] = loaded
        while len(_LOADED) > _LOADED_KEEP:
            _LOADED.popitem(last=False)
    return loaded


def warm_up(path: Path) -> None:
    """Parse a large .sf2's preset tables now, so the first piece doesn't wait for it."""
    stat = path.stat()
    if stat.st_size > SUBSET_ABOVE_BYTES and path.suffix.lower() == ".sf2":
        try:
            _layout(str(path), stat.st_mtime_ns, stat.st_size)
        except (OSError, ValueError, KeyError, IndexError, struct.error) as exc:
            raise ModelUnavailable(f"SoundFont {path} could not be read ({exc})") from None


_LOCK = threading.Lock()
_LOADED: OrderedDict[tuple[str, int, int, frozenset[tuple[int, int]]], Any] = OrderedDict()


# --------------------------------------------------------------------------------------
# SF2 subsetting (SoundFont 2.04: RIFF 'sfbk' with INFO, sdta and pdta lists)

_RECORDS = {  # pdta sub-chunk -> struct layout of one record
    "phdr": "<20sHHHIII",
    "pbag": "<HH",
    "pmod": "<HHhHH",
    "pgen": "<HH",
    "inst": "<20sH",
    "ibag": "<HH",
    "imod": "<HHhHH",
    "igen": "<HH",
    "shdr": "<20sIIIIIBbHH",
}
_GEN_INSTRUMENT = 41
_GEN_SAMPLE_ID = 53
_SAMPLE_PADDING = 46  # zero sample points the spec asks for after every sample
_ROM_SAMPLE = 0x8000
_LINKED_SAMPLE = 2 | 4 | 8  # right, left, linked: sfSampleType bits beyond mono (1)


@dataclass(frozen=True)
class _Layout:
    info: bytes  # the INFO list, whole
    samples_offset: int  # file offset of the 16-bit 'smpl' data
    records: dict[str, list[tuple[Any, ...]]]


@lru_cache(maxsize=2)
def _layout(path: str, mtime_ns: int, size: int) -> _Layout:
    with open(path, "rb") as file:
        riff, _, form = struct.unpack("<4sI4s", file.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont 2 file")
        info = b""
        samples_offset = -1
        records: dict[str, list[tuple[Any, ...]]] = {}
        while True:
            header = file.read(12)
            if len(header) < 12:
                break
            tag, length, kind = struct.unpack("<4sI4s", header)
            start = file.tell()
            if tag == b"LIST" and kind == b"INFO":
                file.seek(start - 12)
                info = file.read(length + 8)
            elif tag == b"LIST" and kind == b"sdta":
                samples_offset = _sub_chunks(file, start, length - 4, want_offsets=True).get("smpl", -1)
            elif tag == b"LIST" and kind == b"pdta":
                raw = _sub_chunks(file, start, length - 4, want_offsets=False)
                for name, layout in _RECORDS.items():
                    data = raw[name]
                    records[name] = list(struct.iter_unpack(layout, data))
            file.seek(start + length - 4 + (length & 1))
    if samples_offset < 0 or set(records) != set(_RECORDS):
        raise ValueError(f"{path}: incomplete SoundFont (no sample data or preset tables)")
    return _Layout(info, samples_offset, records)


def _sub_chunks(file: Any, start: int, length: int, want_offsets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    position = start
    while position + 8 <= start + length:
        file.seek(position)
        tag, size = struct.unpack("<4sI", file.read(8))
        name = tag.decode("ascii", "replace")
        found[name] = position + 8 if want_offsets else file.read(size)
        position += 8 + size + (size & 1)
    return found


def subset_sf2(path: Path, presets: frozenset[tuple[int, int]]) -> bytes:
    """A valid SF2 file (bytes) with only ``presets`` ((bank, preset)) of ``path``, the
    instruments they use and the samples those play. Unknown presets are left out (the
    synthesizer falls back as it would on the whole file)."""
    stat = path.stat()
    layout = _layout(str(path), stat.st_mtime_ns, stat.st_size)
    r = layout.records
    phdr, pbag, pgen, pmod = r["phdr"], r["pbag"], r["pgen"], r["pmod"]
    inst, ibag, igen, imod, shdr = r["inst"], r["ibag"], r["igen"], r["imod"], r["shdr"]

    kept_presets = [i for i in range(len(phdr) - 1) if (phdr[i][2], phdr[i][1]) in presets]
    instrument_index: dict[int, int] = {}  # old index -> new, in order of first use
    for p in kept_presets:
        for bag in range(phdr[p][3], phdr[p + 1][3]):
            for gen in range(pbag[bag][0], pbag[bag + 1][0]):
                if pgen[gen][0] == _GEN_INSTRUMENT:
                    instrument_index.setdefault(pgen[gen][1], len(instrument_index))
    instruments = list(instrument_index)
    sample_index: dict[int, int] = {}
    for i in instruments:
        for bag in range(inst[i][1], inst[i + 1][1]):
            for gen in range(ibag[bag][0], ibag[bag + 1][0]):
                if igen[gen][0] == _GEN_SAMPLE_ID:
                    _keep_sample(igen[gen][1], shdr, sample_index)
    samples = list(sample_index)

    # presets and their zones
    new_phdr, new_pbag, new_pgen, new_pmod = [], [], [], []
    for p in kept_presets:
        name, number, bank, first_bag, library, genre, morphology = phdr[p]
        new_phdr.append((name, number, bank, len(new_pbag), library, genre, morphology))
        for bag in range(first_bag, phdr[p + 1][3]):
            new_pbag.append((len(new_pgen), len(new_pmod)))
            for gen in range(pbag[bag][0], pbag[bag + 1][0]):
                oper, amount = pgen[gen]
                new_pgen.append((oper, instrument_index[amount] if oper == _GEN_INSTRUMENT else amount))
            new_pmod.extend(pmod[pbag[bag][1] : pbag[bag + 1][1]])
    new_phdr.append((b"EOP", 0, 0, len(new_pbag), 0, 0, 0))
    new_pbag.append((len(new_pgen), len(new_pmod)))
    new_pgen.append((0, 0))
    new_pmod.append((0, 0, 0, 0, 0))

    # instruments and their zones
    new_inst, new_ibag, new_igen, new_imod = [], [], [], []
    for i in instruments:
        new_inst.append((inst[i][0], len(new_ibag)))
        for bag in range(inst[i][1], inst[i + 1][1]):
            new_ibag.append((len(new_igen), len(new_imod)))
            for gen in range(ibag[bag][0], ibag[bag + 1][0]):
                oper, amount = igen[gen]
                new_igen.append((oper, sample_index[amount] if oper == _GEN_SAMPLE_ID else amount))
            new_imod.extend(imod[ibag[bag][1] : ibag[bag + 1][1]])
    new_inst.append((b"EOI", len(new_ibag)))
    new_ibag.append((len(new_igen), len(new_imod)))
    new_igen.append((0, 0))
    new_imod.append((0, 0, 0, 0, 0))

    # samples: each one's points, then the zero padding, renumbered
    pieces: list[bytes] = []
    offset = 0
    padding = bytes(2 * _SAMPLE_PADDING)
    new_shdr = []
    with open(path, "rb") as file:
        for s in samples:
            name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind = shdr[s]
            file.seek(layout.samples_offset + 2 * start)
            pieces += [file.read(2 * (end - start)), padding]
            shift = offset - start
            offset += end - start + _SAMPLE_PADDING
            new_link = sample_index.get(link, 0)
            new_shdr.append(
                (name, start + shift, end + shift, loop_start + shift, loop_end + shift, rate, pitch, correction)
                + (new_link, kind)
            )
    new_shdr.append((b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))

    tables = {
        "phdr": new_phdr,
        "pbag": new_pbag,
        "pmod": new_pmod,
        "pgen": new_pgen,
        "inst": new_inst,
        "ibag": new_ibag,
        "imod": new_imod,
        "igen": new_igen,
        "shdr": new_shdr,
    }
    pdta = b"pdta" + b"".join(
        _chunk(name, b"".join(struct.pack(_RECORDS[name], *record) for record in tables[name])) for name in _RECORDS
    )
    sdta = b"sdta" + _chunk("smpl", b"".join(pieces))
    body = b"sfbk" + layout.info + _chunk("LIST", sdta) + _chunk("LIST", pdta)
    return _chunk("RIFF", body)


def _keep_sample(index: int, shdr: list[tuple[Any, ...]], kept: dict[int, int]) -> None:
    """Keep a sample (old index -> new) and the samples linked to it (the other side of
    a stereo pair)."""
    while index not in kept and index < len(shdr) - 1:
        kind = shdr[index][9]
        if kind & _ROM_SAMPLE:
            return  # ROM samples have no data in the file
        kept[index] = len(kept)
        if not kind & _LINKED_SAMPLE:
            return
        index = shdr[index][8]  # the other side of a stereo (or linked) sample


def _chunk(name: str, data: bytes) -> bytes:
    return struct.pack("<4sI", name.encode("ascii"), len(data)) + data + (b"\0" if len(data) & 1 else b"")
