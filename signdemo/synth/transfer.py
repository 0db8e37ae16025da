"""Real-person check of a keypoint model trained on the synthetic signer.

There is no webcam on the development machine, so transfer to real people is measured on real
MediaPipe Holistic landmarks of people performing movements that two of the synthetic classes
imitate: the GISLR competition's `hello` (a salute from the forehead outwards, the synthetic
`hello`) and `thankyou` (flat fingertips from the chin forwards and down, the synthetic
`thank_you`), as packed in `../shared/data/gislr_hello_thankyou/gislr_hello_thankyou.npz`.

Each real sequence goes through the same path as a webcam clip after MediaPipe (missing parts are
zeros with their presence flag off, the bundle's own feature settings, `Recognizer.predict_landmarks`),
as the data gives it (not mirrored). Reported per real sign: how often the model's top-1 over its
whole vocabulary is the matching synthetic class, how often it scores the matching class above
the other one of the pair, and what it answers most often instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: GISLR sign -> the synthetic class that imitates it.
REAL_TO_SYNTH = {"hello": "hello", "thankyou": "thank_you"}
@dataclass
class SignTransfer:
    """Figures for one real sign."""

    real: str
    synth: str
    sequences: int = 0
    top1_hits: int = 0
    pair_hits: int = 0
    answers: Counter = field(default_factory=Counter)

    @property
    def top1(self) -> float:
        return self.top1_hits / max(self.sequences, 1)

    @property
    def pair(self) -> float:
        return self.pair_hits / max(self.sequences, 1)


def measure_transfer(recognizer, npz_path: str | Path) -> dict[str, SignTransfer]:
    """Run the recognizer's keypoint model on every real sequence; figures per real sign. Sequences
    without any pose are counted as misses (a webcam clip without a person gets no answer either)."""
    from signdemo.errors import NoPersonDetectedError
    from signdemo.train.gislr import read_sequences

    labels = recognizer.bigru.labels
    missing = sorted(set(REAL_TO_SYNTH.values()) - set(labels))
    if missing:
        raise ValueError(f"the keypoint model has no class {missing}: it is not a synthetic-signer model")
    ids = {real: labels.index(synth) for real, synth in REAL_TO_SYNTH.items()}
    out = {real: SignTransfer(real, synth) for real, synth in REAL_TO_SYNTH.items()}
    for real, _, _, landmarks in read_sequences(npz_path):
        if real not in out:
            continue
        stats = out[real]
        stats.sequences += 1
        try:
            pred = recognizer.predict_landmarks(landmarks)
        except NoPersonDetectedError:
            stats.answers["(no pose)"] += 1
            continue
        other = next(i for r, i in ids.items() if r != real)
        stats.top1_hits += int(pred.indices[0] == ids[real])
        stats.pair_hits += int(pred.scores[ids[real]] > pred.scores[other])
        stats.answers[pred.labels[0]] += 1
    return out


def format_transfer(results: dict[str, SignTransfer], num_classes: int) -> str:
    """A Markdown table of `measure_transfer`'s figures."""
    lines = [
        f"| real sign (GISLR) | synthetic class | sequences | top-1 of {num_classes} | matching class above the other | most frequent answers |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for s in results.values():
        common = ", ".join(f"{label} {n}" for label, n in s.answers.most_common(4))
        lines.append(f"| {s.real} | {s.synth} | {s.sequences} | {s.top1:.1%} | {s.pair:.1%} | {common} |")
    return "\n".join(lines)
