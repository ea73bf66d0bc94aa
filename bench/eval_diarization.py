"""Diarization error rate per conversation, split into miss / false alarm / confusion.

``python -m bench.eval_diarization [--seconds N] [--no-flite] [--no-ami] [--oracle-vad]``

Scored with bench_speaker's frame scorer (10 ms frames, 0.25 s collar around every
reference boundary, overlapped reference speech counted, optimal one-to-one speaker
mapping). A development tool: it runs VAD + diarization only, no extraction.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import soundfile

from audiomill.engines.extract_speaker import CONVERSATION_MIN_SILENCE_SECONDS, CONVERSATION_PAD_SECONDS

RATE = 16000
COLLAR = 0.25


def breakdown(reference, hypothesis, duration, collar=COLLAR, step=0.01):
    from scipy.optimize import linear_sum_assignment

    frames = int(np.ceil(duration / step))
    times = (np.arange(frames) + 0.5) * step

    def activity(turns):
        names = sorted({s for _, _, s in turns})
        active = np.zeros((len(names), frames), bool)
        for start, end, speaker in turns:
            active[names.index(speaker), (times >= start) & (times < end)] = True
        return active

    ref, hyp = activity(reference), activity(hypothesis)
    scored = np.ones(frames, bool)
    for start, end, _ in reference:
        for edge in (start, end):
            scored &= np.abs(times - edge) > collar
    ref, hyp = ref[:, scored], hyp[:, scored]
    total = ref.sum()
    nref, nhyp = ref.sum(0), hyp.sum(0) if len(hyp) else np.zeros(ref.shape[1], int)
    correct = np.zeros(ref.shape[1], int)
    if len(hyp):
        agreement = (ref[:, None, :] & hyp[None, :, :]).sum(axis=2)
        rows, cols = linear_sum_assignment(-agreement)
        for r, c in zip(rows, cols):
            correct = correct + (ref[r] & hyp[c])
    miss = np.maximum(nref - nhyp, 0).sum()
    fa = np.maximum(nhyp - nref, 0).sum()
    conf = (np.minimum(nref, nhyp) - correct).sum()
    return {k: 100 * v / total for k, v in (("der", miss + fa + conf), ("miss", miss), ("fa", fa), ("conf", conf))}


def cases(args):
    from tests.conversations import THREE_PERSON_SCRIPT, FliteVoices, ami_folder, ami_turns
    from bench import common

    found = []
    if not args.no_flite:
        voices = FliteVoices(common.OUT_DIR / "speaker" / "voices")
        for a, b in (("slt", "rms"), ("awb", "kal"), ("rms", "awb")):
            talk = voices.conversation_script({"A": a, "B": b})
            found.append((f"{a}+{b}", talk.audio, talk.turns))
        talk = voices.conversation_script({"A": "rms", "B": "kal", "C": "slt"}, THREE_PERSON_SCRIPT)
        found.append(("rms+kal+slt", talk.audio, talk.turns))
    if not args.no_ami:
        folder = ami_folder()
        if folder is not None:
            for name, turns in sorted(ami_turns(folder).items()):
                audio, _ = soundfile.read(folder / f"{name}.wav", dtype="float32")
                found.append((name, audio, turns))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.0, help="only the first N seconds")
    parser.add_argument("--no-flite", action="store_true")
    parser.add_argument("--no-ami", action="store_true")
    parser.add_argument("--oracle-vad", action="store_true", help="reference speech as the VAD")
    parser.add_argument("--oracle-count", action="store_true", help="pass the true speaker count")
    parser.add_argument("--vad-threshold", type=float, default=None)
    parser.add_argument("--only", default="")
    parser.add_argument("--collar", type=float, default=COLLAR)
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE of speech/diarization.py")
    parser.add_argument("--min-silence", type=float, default=CONVERSATION_MIN_SILENCE_SECONDS)
    parser.add_argument("--pad", type=float, default=CONVERSATION_PAD_SECONDS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from audiomill.models.campplus import load_campplus
    from audiomill.models.vad import load_speech_detector
    from audiomill.speech import diarization

    for assignment in args.set:
        name, value = assignment.split("=")
        setattr(diarization, name, float(value))
    encoder, detector = load_campplus(), load_speech_detector()
    totals = []
    for name, audio, turns in cases(args):
        if args.only and args.only not in name:
            continue
        if args.seconds:
            audio = audio[: int(args.seconds * RATE)]
            turns = [(s, min(e, args.seconds), k) for s, e, k in turns if s < args.seconds]
        started = time.perf_counter()
        if args.oracle_vad:
            mask = np.zeros(audio.size, bool)
            for s, e, _ in turns:
                mask[round(s * RATE) : round(e * RATE)] = True
            edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
            speech = list(zip(edges[::2].tolist(), edges[1::2].tolist()))
        else:
            from audiomill.models.vad import speech_spans

            probabilities = detector.speech_probabilities(audio)
            speech = speech_spans(
                probabilities, audio.size, args.vad_threshold or 0.5, 0.25, args.min_silence, args.pad
            )
        count = len({k for _, _, k in turns}) if args.oracle_count else None
        found = diarization.diarize(encoder, audio, speech, count)
        vad_only = breakdown(turns, [(a / RATE, b / RATE, "x") for a, b in speech], audio.size / RATE)
        hyp = [(t.start / RATE, t.end / RATE, str(t.speaker)) for t in found.turns]
        figures = breakdown(turns, hyp, audio.size / RATE, args.collar)
        totals.append(figures)
        print(
            f"{name:12s} DER {figures['der']:5.1f}  miss {figures['miss']:5.1f}  fa {figures['fa']:5.1f}  "
            f"conf {figures['conf']:5.1f}  vad miss {vad_only['miss']:5.1f} fa {vad_only['fa']:4.1f}  speakers {found.speaker_count}/{len({k for _, _, k in turns})}  "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
