"""audiomill.audio: every input kind decodes, every output kind round-trips, lies are caught,
streaming stays streaming."""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audiomill.audio import (
    AudioInfo,
    AudioWriter,
    decode,
    encode,
    extension_for,
    iter_decode,
    media_type_for,
    probe,
    resample,
)
from audiomill.errors import InvalidInput, UnsupportedMedia
from audiomill.params import EncodeOptions, OutputFormat
from tests.audio_samples import (
    chord,
    noise,
    sine,
    stereo_chords,
    sweep,
    write_flac,
    write_media,
    write_mp3,
    write_ogg_vorbis,
    write_png,
    write_video_only,
    write_wav,
)

REFERENCE_SECONDS = 2.0


def reference(sample_rate: int) -> np.ndarray:
    """Stereo test signal: a sweep on the left (one clear lag), a chord on the right."""
    left = sweep(REFERENCE_SECONDS, sample_rate)
    right = chord([196.0, 246.94, 293.66], REFERENCE_SECONDS, sample_rate)
    return np.concatenate([left, right])


def best_lag(decoded: np.ndarray, expected: np.ndarray, max_lag: int = 4096) -> int:
    """The shift (samples) that best lines decoded up with expected; positive = late."""
    size = decoded.shape[0] + expected.shape[0]
    max_lag = min(max_lag, size // 2 - 1)  # beyond that the circular correlation wraps
    spectrum = np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(expected, size))
    correlation = np.fft.irfft(spectrum, size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(correlation[lags])])


def similarity(decoded: np.ndarray, expected: np.ndarray) -> float:
    """Normalised correlation at lag 0 over the common length."""
    frames = min(decoded.shape[-1], expected.shape[-1])
    a, b = decoded[..., :frames].ravel(), expected[..., :frames].ravel()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def assert_lossy_match(decoded: np.ndarray, expected: np.ndarray) -> None:
    """Aligned to the sample and alike; expected[0] must not repeat (a sweep), since a
    periodic signal correlates almost as well one period off."""
    assert best_lag(decoded[0], expected[0]) == 0, "decoded audio is shifted"
    for channel in range(expected.shape[0]):
        assert similarity(decoded[channel], expected[channel]) > 0.9, f"channel {channel}"


# ---------------------------------------------------------------------------------------
# every input kind decodes


@dataclass(frozen=True)
class InputKind:
    name: str
    filename: str
    sample_rate: int
    write: Callable[[Path, np.ndarray, int], Path]
    container: str
    codec: str
    lossless_tolerance: float | None = None  # max abs error; None means lossy


INPUT_KINDS = [
    InputKind("wav16", "in.wav", 44100, lambda p, a, r: write_wav(p, a, r, "PCM_16"),
              "wav", "pcm_s16le", 1e-4),
    InputKind("wav24", "in.wav", 48000, lambda p, a, r: write_wav(p, a, r, "PCM_24"),
              "wav", "pcm_s24le", 1e-6),
    InputKind("wav_float", "in.wav", 44100, lambda p, a, r: write_wav(p, a, r, "FLOAT"),
              "wav", "pcm_f32le", 0.0),
    InputKind("wav_u8", "in.wav", 22050, lambda p, a, r: write_wav(p, a, r, "PCM_U8"),
              "wav", "pcm_u8", 1 / 64),
    InputKind("wav_s32", "in.wav", 44100, lambda p, a, r: write_wav(p, a, r, "PCM_32"),
              "wav", "pcm_s32le", 1e-6),
    InputKind("flac", "in.flac", 44100, write_flac, "flac", "flac", 1e-4),
    InputKind("mp3", "in.mp3", 44100, write_mp3, "mp3", "mp3"),
    InputKind("ogg_opus", "in.ogg", 48000, lambda p, a, r: write_media(p, a, r, "ogg", "libopus"),
              "ogg", "opus"),
    InputKind("ogg_vorbis", "in.ogg", 44100, write_ogg_vorbis, "ogg", "vorbis"),
    InputKind("m4a", "in.m4a", 44100, lambda p, a, r: write_media(p, a, r, "ipod", "aac"),
              "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    InputKind("mp4_with_video", "in.mp4", 44100,
              lambda p, a, r: write_media(p, a, r, "mp4", "aac", video_codec="libx264"),
              "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    InputKind("webm", "in.webm", 48000,
              lambda p, a, r: write_media(p, a, r, "webm", "libopus", video_codec="libvpx"),
              "matroska,webm", "opus"),
    InputKind("mov", "in.mov", 44100,
              lambda p, a, r: write_media(p, a, r, "mov", "aac", video_codec="mpeg4"),
              "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
]  # fmt: skip


@pytest.mark.parametrize("kind", INPUT_KINDS, ids=lambda kind: kind.name)
def test_decodes_every_input_kind(tmp_path: Path, kind: InputKind) -> None:
    expected = reference(kind.sample_rate)
    path = kind.write(tmp_path / kind.filename, expected, kind.sample_rate)

    info = probe(path)
    assert (info.container, info.codec) == (kind.container, kind.codec)
    assert (info.sample_rate, info.channels) == (kind.sample_rate, 2)
    assert info.duration_seconds == pytest.approx(REFERENCE_SECONDS, abs=0.03)

    audio, sample_rate = decode(path)
    assert sample_rate == kind.sample_rate
    assert audio.dtype == np.float32 and audio.shape[0] == 2
    if kind.lossless_tolerance is not None:
        assert audio.shape == expected.shape
        assert np.abs(audio - expected).max() <= kind.lossless_tolerance
    else:
        # decoders may keep up to one codec frame of padding where the file does not say
        assert abs(audio.shape[1] - expected.shape[1]) <= 1024
        assert_lossy_match(audio, expected)


def test_probe_reads_the_duration_without_decoding_everything(tmp_path: Path) -> None:
    # Two hours of 48 kHz stereo as a sparse file: 1.4 GB that costs no disk. Decoding it
    # all would take many seconds; reading the header takes milliseconds.
    sample_rate, channels, duration_seconds = 48000, 2, 7200
    data_bytes = duration_seconds * sample_rate * channels * 2
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16
    )
    header += b"data" + struct.pack("<I", data_bytes)
    path = tmp_path / "two_hours.wav"
    with path.open("wb") as file:
        file.write(header)
        file.truncate(len(header) + data_bytes)

    started = time.perf_counter()
    info = probe(path)
    assert time.perf_counter() - started < 2.0
    assert info == AudioInfo("wav", "pcm_s16le", sample_rate, channels, float(duration_seconds))


def test_probe_decodes_to_measure_when_the_container_has_no_duration(tmp_path: Path) -> None:
    # matroska written as a live stream carries no duration at all
    path = write_media(tmp_path / "live.mka", sine(440.0, 3.0, 48000), 48000, "matroska", "libopus", live=True)
    assert probe(path).duration_seconds == pytest.approx(3.0, abs=0.001)


# ---------------------------------------------------------------------------------------
# every output kind round-trips


@dataclass(frozen=True)
class OutputKind:
    name: str
    options: EncodeOptions
    codec: str
    lossless_tolerance: float | None = None
    frame_frames: int = 0  # codec frame size for lossy formats


OUTPUT_KINDS = [
    OutputKind("wav16", EncodeOptions(output_format=OutputFormat.wav, wav_bit_depth=16),
               "pcm_s16le", 1e-4),
    OutputKind("wav24", EncodeOptions(output_format=OutputFormat.wav, wav_bit_depth=24),
               "pcm_s24le", 1e-6),
    OutputKind("wav_float", EncodeOptions(output_format=OutputFormat.wav, wav_bit_depth=32),
               "pcm_f32le", 0.0),
    OutputKind("flac16", EncodeOptions(output_format=OutputFormat.flac), "flac", 1e-4),
    OutputKind("flac24", EncodeOptions(output_format=OutputFormat.flac, wav_bit_depth=24),
               "flac", 1e-6),
    OutputKind("mp3", EncodeOptions(output_format=OutputFormat.mp3, bitrate_kbps=192),
               "mp3", frame_frames=1152),
    OutputKind("m4a", EncodeOptions(output_format=OutputFormat.m4a, bitrate_kbps=192),
               "aac", frame_frames=1024),
]  # fmt: skip


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=lambda kind: kind.name)
def test_encode_round_trips(tmp_path: Path, kind: OutputKind) -> None:
    expected = reference(44100)
    path = tmp_path / f"out.{extension_for(kind.options.output_format)}"
    encode(path, expected, 44100, kind.options)

    info = probe(path)
    assert (info.codec, info.sample_rate, info.channels) == (kind.codec, 44100, 2)
    audio, _ = decode(path)
    if kind.lossless_tolerance is not None:
        assert audio.shape == expected.shape
        assert np.abs(audio - expected).max() <= kind.lossless_tolerance
    else:
        assert abs(audio.shape[1] - expected.shape[1]) <= kind.frame_frames
        assert_lossy_match(audio, expected)


@pytest.mark.parametrize("output_format", [OutputFormat.mp3, OutputFormat.m4a])
def test_lossy_file_size_follows_bitrate(tmp_path: Path, output_format: OutputFormat) -> None:
    audio = stereo_chords(4.0) + noise(4.0, channels=2, amplitude=0.05)
    sizes = {}
    for bitrate_kbps in (64, 256):
        path = tmp_path / f"{bitrate_kbps}.{extension_for(output_format)}"
        options = EncodeOptions(output_format=output_format, bitrate_kbps=bitrate_kbps)
        encode(path, audio, 44100, options)
        sizes[bitrate_kbps] = path.stat().st_size
    assert sizes[256] > 2.5 * sizes[64]


@pytest.mark.parametrize("frames", [44100, 44100 + 1, 1024 * 40, 777])
def test_m4a_we_write_decodes_aligned_and_exact_length(tmp_path: Path, frames: int) -> None:
    # AAC encoders prime with 1024 samples and pad the last frame; with frame pts set the
    # muxer records both (edit list + duration) and decode must honour them
    expected = sweep(frames / 44100, 44100, channels=1)
    expected[0, frames // 3] = 0.9  # a click makes any misalignment obvious
    path = tmp_path / "aligned.m4a"
    encode(path, expected, 44100, EncodeOptions(output_format=OutputFormat.m4a))
    audio, _ = decode(path)
    assert audio.shape == expected.shape
    assert best_lag(audio[0], expected[0]) == 0


def test_mp3_output_resamples_rates_the_encoder_lacks(tmp_path: Path) -> None:
    expected = reference(96000)
    path = tmp_path / "hi_res.mp3"
    with AudioWriter(path, 96000, 2, output_format=OutputFormat.mp3) as writer:
        writer.write(expected)
    assert writer.encoded_sample_rate == 48000
    audio, sample_rate = decode(path)
    assert (sample_rate, probe(path).sample_rate) == (48000, 48000)
    assert_lossy_match(audio, resample(expected, 96000, 48000))


def test_format_comes_from_argument_then_options_then_suffix(tmp_path: Path) -> None:
    audio = sine(440.0, 0.2)
    encode(tmp_path / "a.flac", audio, 44100)
    encode(tmp_path / "b.bin", audio, 44100, EncodeOptions(output_format=OutputFormat.mp3))
    encode(tmp_path / "c.wav", audio, 44100, EncodeOptions(), output_format=OutputFormat.m4a)
    assert probe(tmp_path / "a.flac").codec == "flac"
    assert probe(tmp_path / "b.bin").codec == "mp3"
    assert probe(tmp_path / "c.wav").codec == "aac"
    with pytest.raises(InvalidInput, match="output format"):
        encode(tmp_path / "d.bin", audio, 44100)


def test_out_of_range_samples_clip_except_in_float_wav(tmp_path: Path) -> None:
    loud = np.array([[0.5, 1.5, -2.0, np.nan, 0.25]], np.float32)
    encode(tmp_path / "int.wav", loud, 8000)
    encode(tmp_path / "float.wav", loud, 8000, EncodeOptions(wav_bit_depth=32))
    clipped, _ = decode(tmp_path / "int.wav")
    kept, _ = decode(tmp_path / "float.wav")
    np.testing.assert_allclose(clipped[0], [0.5, 1.0, -1.0, 0.0, 0.25], atol=1e-4)
    np.testing.assert_array_equal(kept[0], [0.5, 1.5, -2.0, 0.0, 0.25])


def test_lossy_outputs_refuse_more_than_stereo(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="m4a output holds mono or stereo"):
        AudioWriter(tmp_path / "six.m4a", 44100, 6)


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_odd_file_names_are_plain_paths(tmp_path: Path, output_format: OutputFormat) -> None:
    # FFmpeg reads "name:rest" as protocol "name"; our files are always files
    path = tmp_path / f"pipe:1 http:x #?.{extension_for(output_format)}"
    encode(path, reference(44100), 44100)
    assert path.stat().st_size > 1000
    assert decode(path)[0].shape[0] == 2


# ---------------------------------------------------------------------------------------
# content decides, not the name


def test_wav_named_mp3_decodes_as_wav(tmp_path: Path) -> None:
    expected = reference(44100)
    path = write_wav(tmp_path / "liar.mp3", expected, 44100)
    assert probe(path).container == "wav"
    audio, _ = decode(path)
    assert np.abs(audio - expected).max() < 1e-4


def test_m4a_named_wav_decodes_as_aac(tmp_path: Path) -> None:
    path = write_media(tmp_path / "liar.wav", reference(44100), 44100, "ipod", "aac")
    assert probe(path).codec == "aac"


def _text(path: Path) -> Path:
    path.write_text("this is not audio, just a text file\n" * 40)
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _truncated_mp3(path: Path) -> Path:
    whole = write_mp3(path.with_name("whole.mp3"), reference(44100), 44100)
    path.write_bytes(whole.read_bytes()[:300])
    return path


def _random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(7).bytes(50_000))
    return path


def _png(path: Path) -> Path:
    return write_png(path)


def _video_only(path: Path) -> Path:
    return write_video_only(path)


def _playlist(path: Path) -> Path:
    # an HLS playlist naming another file on our disk must not be followed
    target = write_wav(path.with_name("secret.wav"), reference(44100), 44100)
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{target}\n#EXT-X-ENDLIST\n")
    return path


def _m4a_cut_after_its_index(path: Path) -> Path:
    # faststart puts the index first: this file opens fine and then has no samples at all
    whole = path.with_name("whole.m4a")
    encode(whole, reference(44100), 44100, output_format=OutputFormat.m4a)
    data = whole.read_bytes()
    path.write_bytes(data[: data.index(b"mdat") + 4])
    return path


def _concat_list(path: Path) -> Path:
    target = write_wav(path.with_name("secret.wav"), reference(44100), 44100)
    path.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    return path


NOT_AUDIO = [
    ("text.mp3", _text, "not a recognised"),
    ("empty.mp3", _empty, "empty"),
    ("truncated.mp3", _truncated_mp3, "not a recognised"),
    ("index_only.m4a", _m4a_cut_after_its_index, "no decodable audio"),
    ("random.xyz", _random_bytes, "not a recognised"),
    ("image.png", _png, "no audio track"),
    ("image_named.mp3", _png, "no audio track"),
    ("video_only.mp4", _video_only, "no audio track"),
    ("playlist.m3u8", _playlist, "not a recognised"),
    ("concat.txt", _concat_list, "not an audio or video format we accept"),
]


@pytest.mark.parametrize("read", [probe, decode, iter_decode], ids=["probe", "decode", "iter_decode"])
@pytest.mark.parametrize(("filename", "make", "message"), NOT_AUDIO, ids=[case[0] for case in NOT_AUDIO])
def test_not_audio_is_unsupported_media(
    tmp_path: Path,
    read: Callable[[Path], object],
    filename: str,
    make: Callable[[Path], Path],
    message: str,
) -> None:
    path = make(tmp_path / filename)
    with pytest.raises(UnsupportedMedia, match=message) as caught:
        read(path)  # iter_decode too: it checks the file when called, before any next()
    assert caught.value.http_status == 415
    assert len(caught.value.message) > 10


def test_damaged_middle_still_decodes(tmp_path: Path) -> None:
    path = write_mp3(tmp_path / "damaged.mp3", reference(44100), 44100)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 400] = bytes(400)
    path.write_bytes(bytes(data))
    audio, _ = decode(path)
    assert audio.shape[1] == pytest.approx(REFERENCE_SECONDS * 44100, abs=3 * 1152)


@pytest.mark.parametrize(
    "kind",
    [k for k in INPUT_KINDS if k.name in ("flac", "mp3", "ogg_opus", "m4a", "mp4_with_video", "webm")],
    ids=lambda kind: kind.name,
)
def test_damaged_files_decode_or_are_unsupported_never_crash(tmp_path: Path, kind: InputKind) -> None:
    # Found by fuzzing: the AAC decoder reports damage as EPERM and other odd codes.
    # Whatever the damage, the caller sees audio or UnsupportedMedia, never an FFmpeg error.
    original = kind.write(tmp_path / kind.filename, reference(kind.sample_rate), kind.sample_rate)
    data = original.read_bytes()
    generator = np.random.default_rng(3)
    for attempt in range(8):
        damaged = bytearray(data)
        for offset in generator.integers(0, len(data), size=20):
            damaged[offset] = int(generator.integers(0, 256))
        path = tmp_path / f"damaged_{attempt}"
        path.write_bytes(bytes(damaged))
        try:
            audio, _ = decode(path)
        except UnsupportedMedia:
            continue
        assert audio.shape[0] == 2 and np.isfinite(audio).all()


# ---------------------------------------------------------------------------------------
# channels and rates on the way in


def test_channel_conversions(tmp_path: Path) -> None:
    stereo = reference(44100)
    path = write_wav(tmp_path / "stereo.wav", stereo, 44100, "FLOAT")
    mono, _ = decode(path, channels=1)
    np.testing.assert_allclose(mono[0], stereo.mean(axis=0), atol=1e-6)

    mono_path = write_wav(tmp_path / "mono.wav", stereo[:1], 44100, "FLOAT")
    doubled, _ = decode(mono_path, channels=2)
    np.testing.assert_array_equal(doubled, np.repeat(stereo[:1], 2, axis=0))

    with pytest.raises(InvalidInput, match="cannot convert 2 channels to 3"):
        decode(path, channels=3)
    with pytest.raises(InvalidInput):
        decode(path, sample_rate=0)


def test_decode_resamples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "in.wav", reference(44100), 44100, "FLOAT")
    audio, sample_rate = decode(path, sample_rate=16000)
    assert sample_rate == 16000
    assert audio.shape == (2, round(REFERENCE_SECONDS * 16000))
    assert_lossy_match(audio, reference(16000))


def test_resample_shapes_and_identity() -> None:
    audio = reference(44100)
    assert resample(audio, 44100, 48000).shape == (2, 96000)
    np.testing.assert_array_equal(resample(audio, 44100, 44100), audio)
    with pytest.raises(InvalidInput):
        resample(audio[0], 44100, 48000)


# ---------------------------------------------------------------------------------------
# streaming


@pytest.fixture(scope="module")
def three_minute_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "three_minutes.wav"
    with soundfile.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as file:
        for minute in range(3):
            file.write((stereo_chords(60.0) + noise(60.0, channels=2, seed=minute)).T)
    return path


def test_iter_decode_yields_fixed_blocks_equal_to_decode(three_minute_wav: Path) -> None:
    whole, _ = decode(three_minute_wav)
    blocks = list(iter_decode(three_minute_wav, block_frames=65536))
    assert all(block.shape == (2, 65536) for block in blocks[:-1])
    assert 0 < blocks[-1].shape[1] <= 65536
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)
    assert whole.shape == (2, 3 * 60 * 44100)


def test_iter_decode_resampling_matches_whole_file_resampling(tmp_path: Path) -> None:
    native = reference(44100)
    path = write_wav(tmp_path / "in.wav", native, 44100, "FLOAT")
    # an odd block size puts block edges everywhere relative to the decoder's frames
    blocks = iter_decode(path, sample_rate=48000, block_frames=10007)
    streamed = np.concatenate(list(blocks), axis=1)
    whole, _ = decode(path, sample_rate=48000)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    np.testing.assert_allclose(streamed, resample(native, 44100, 48000), atol=1e-6)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_iter_decode_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    sample_rate = 8000
    path = tmp_path / "twenty_minutes.wav"
    minute = noise(60.0, sample_rate, amplitude=0.2)[0]
    with soundfile.SoundFile(path, "w", sample_rate, 1, subtype="PCM_16") as file:
        for _ in range(20):
            file.write(minute)
    whole_file_bytes = 20 * 60 * sample_rate * 4  # what holding it as float32 would cost

    rss_before = _rss_bytes()
    rss_peak = rss_before
    tracemalloc.start()
    try:
        frames = 0
        # resampling too: soxr's stream must not keep what it has seen either
        for index, block in enumerate(iter_decode(path, sample_rate=11025, block_frames=65536)):
            frames += block.shape[1]
            if index % 16 == 0:
                rss_peak = max(rss_peak, _rss_bytes())
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert frames == 20 * 60 * 11025
    assert traced_peak < whole_file_bytes / 10  # ~4 MB allowed of 38 MB; measured ~0.8 MB
    assert rss_peak - rss_before < whole_file_bytes / 2


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_streaming_writer_equals_whole_encode(tmp_path: Path, output_format: OutputFormat) -> None:
    audio = reference(44100)
    suffix = extension_for(output_format)
    encode(tmp_path / f"whole.{suffix}", audio, 44100)
    # ragged blocks, including empty and one-frame ones, across codec frame boundaries
    edges = [0, 1, 1, 700, 5000, 5001, 40000, 65536 + 40000, audio.shape[1]]
    with AudioWriter(tmp_path / f"blocks.{suffix}", 44100, 2) as writer:
        for start, stop in zip(edges[:-1], edges[1:]):
            writer.write(audio[:, start:stop])
    whole, _ = decode(tmp_path / f"whole.{suffix}")
    streamed, _ = decode(tmp_path / f"blocks.{suffix}")
    np.testing.assert_array_equal(streamed, whole)


def test_writer_failure_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "partial.mp3"
    with pytest.raises(RuntimeError), AudioWriter(path, 44100, 2) as writer:
        writer.write(reference(44100))
        raise RuntimeError("engine failed")
    assert not path.exists()


def test_writer_checks_block_shape(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "x.wav", 44100, 2) as writer:
        with pytest.raises(InvalidInput, match=r"\(2, frames\)"):
            writer.write(np.zeros((1, 10), np.float32))


# ---------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    ("filename", "media_type"),
    [
        ("a.mp3", "audio/mpeg"),
        ("A.WAV", "audio/wav"),
        ("x.flac", "audio/flac"),
        ("song.m4a", "audio/mp4"),
        ("v.ogg", "audio/ogg"),
        ("stems.zip", "application/zip"),
        ("clip.mp4", "video/mp4"),
        ("noext", "application/octet-stream"),
        ("weird.xyz", "application/octet-stream"),
    ],
)
def test_media_type_for(filename: str, media_type: str) -> None:
    assert media_type_for(filename) == media_type


def test_extension_for() -> None:
    assert [extension_for(fmt) for fmt in OutputFormat] == ["wav", "flac", "mp3", "m4a"]
