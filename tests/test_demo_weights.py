"""The shipped demo bundles: labelled as demo weights, and right on held-out synthetic clips.

The bundles in weights/ were trained by the project's own scripts on the synthetic signer (see the
README for the commands); the clips in examples/ are held-out test-split renders.
"""

import csv
import json

import numpy as np
import pytest

from _paths import REPO
from signdemo.__main__ import main as cli_main
from signdemo.inference import Recognizer
from signdemo.synth.vocabulary import LABELS
from signdemo.weights import BIGRU, I3D, load_bundle

WEIGHTS = REPO / "weights"
EXAMPLES = REPO / "examples"
DEMO = {BIGRU: WEIGHTS / "demo-bigru-attention", I3D: WEIGHTS / "demo-i3d"}


@pytest.fixture(scope="module")
def demo():
    return {arch: load_bundle(path) for arch, path in DEMO.items()}  # verifies the sha256 of each


@pytest.fixture(scope="module")
def example_results(demo):
    rec = Recognizer(demo[BIGRU], demo[I3D])
    with open(EXAMPLES / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [(row["label"], rec.recognize(EXAMPLES / row["file"])) for row in rows]


def test_bundles_say_they_are_demo_weights(demo):
    names = list(LABELS)
    for arch, bundle in demo.items():
        assert bundle.architecture == arch and bundle.is_demo
        assert "not ASL" in bundle.provenance["description"]
        assert "DEMO weights (not an ASL recognizer)" in bundle.describe()
        assert bundle.labels == names
        metrics = json.loads((bundle.root / "reports" / "final_metrics.json").read_text())
        assert metrics["test_total"] > 0 and 0 <= metrics["test_top1"] <= 1


def test_examples_through_the_full_video_path(example_results):
    assert len(example_results) >= 5
    for label, result in example_results:
        assert result.bigru is not None and result.i3d is not None, result.warnings
        assert result.bigru.top1 == label, (label, result.bigru.labels, result.bigru.probabilities)
    # The demo I3D (held-out top-1 91.8%, top-5 100%, see README): the true label in its top-5
    # on every example, first on all but at most two of the 7 shipped examples.
    answers = [(label, r.i3d.labels) for label, r in example_results]
    assert all(label in top5 for label, top5 in answers), answers
    assert sum(top5[0] == label for label, top5 in answers) >= len(answers) - 2, answers


def test_example_keypoints_through_the_bigru(demo):
    x = np.load(EXAMPLES / "keypoints.npy")
    with open(EXAMPLES / "keypoints_manifest.csv", newline="") as f:
        labels = [r["label"] for r in csv.DictReader(f)]
    assert x.shape == (len(labels), 200, 450) and x.dtype == np.float16
    rec = Recognizer(demo[BIGRU], None)
    assert [rec.predict_features(row).top1 for row in x] == labels


def test_recorded_held_out_accuracy(demo):
    """The figures `python -m signdemo evaluate data/synth/labels.csv --split test --record` stored."""
    # The BiGRU meets the 95% target and the I3D its 90% target.
    for arch, target in ((BIGRU, 0.95), (I3D, 0.90)):
        data = json.loads((demo[arch].root / "reports" / "full_path_evaluation.json").read_text())
        assert data["command"].startswith("python -m signdemo evaluate") and data["scored"] >= 90
        assert data["top1"] >= target and data["correct"] == round(data["top1"] * data["scored"])


def test_evaluate_command_agrees_with_the_recognizer(example_results, capsys):
    code = cli_main(["evaluate", str(EXAMPLES / "labels.csv"), "--bigru", str(DEMO[BIGRU]),
                     "--i3d", str(DEMO[I3D]), "--json"])  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert code == 0 and figures["samples"] == len(example_results)
    for arch, key in ((BIGRU, "bigru"), (I3D, "i3d")):
        expected = sum(getattr(r, key).top1 == label for label, r in example_results)
        assert figures["models"][arch]["correct"] == expected


def test_real_people_hello_reaches_the_keypoint_demo_model(demo):
    """Transfer to real people (no webcam here): real MediaPipe landmarks of GISLR signers doing the
    movements two synthetic classes imitate. Measured with the shipped bundle (python -m signdemo.synth
    transfer ...): `hello` top-1 54.6% of 14 classes and above `thank_you` on 96.7% of 390
    sequences; `thankyou` does NOT transfer (0.0% top-1, 9.8% pair, 357 sequences): the synthetic
    thank-you moves differently from real ones (a known gap, in the README)."""
    from _paths import need_shared

    from signdemo.synth.transfer import measure_transfer

    npz = need_shared("data", "gislr_hello_thankyou", "gislr_hello_thankyou.npz")
    results = measure_transfer(Recognizer(demo[BIGRU], None), npz)
    hello, thanks = results["hello"], results["thankyou"]
    assert (hello.sequences, thanks.sequences) == (390, 357)
    assert hello.top1 >= 0.45 and hello.pair >= 0.9  # chance: 7% and 50%
    assert sum(thanks.answers.values()) == thanks.sequences  # every sequence answered or counted
