"""The parity command: from a processed-200 set and its raw videos, name the FeatureConfig that made
it. The fixture: two example clips whose features were made with a hidden reading of every
unknown (none of them the published record's), stored in the published layout (one row naming its
keypoint file rather than its video, as such manifests may), plus a row whose video is missing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _paths import REPO
from _processed_data import write_processed
from signdemo.__main__ import main
from signdemo.features import FeatureConfig, landmarks_to_features
from signdemo.landmarks import extract_clip_landmarks
from signdemo.parity import format_report
from signdemo.published import BIGRU_FEATURES, FEATURE_UNKNOWNS
from signdemo.video import read_clip
from signdemo.weights import load_bundle_dir

CLIPS = ("hello_s002_033.mp4", "stop_s022_036.mp4")  # a hand is missing on a few frames of each
HIDDEN = FeatureConfig(normalize="shoulder", resample="interpolate", shoulder_reference="clip", shoulder_dims="xy",
                       missing="zero", velocity="masked", first_velocity="repeat")  # fmt: skip


@pytest.mark.slow
def test_parity_names_the_hidden_variant_and_writes_it_into_a_bundle(tmp_path, capsys):
    assert all(getattr(HIDDEN, k) != getattr(BIGRU_FEATURES, k) for k in FEATURE_UNKNOWNS)
    examples = REPO / "examples"
    feats, frames = [], []
    for name in CLIPS:
        landmarks = extract_clip_landmarks(read_clip(examples / name), None)  # every frame
        feats.append(landmarks_to_features(landmarks.points, landmarks.present, HIDDEN))
        frames.append(len(landmarks))
    feats.append(np.zeros_like(feats[0]))
    data = write_processed(tmp_path / "processed", {"test": (np.stack(feats), ["hello", "stop", "hello"])},
                           ["hello", "stop"], sources={"test": [CLIPS[0], "kp/stop_s022_036.npy", "not_here.mp4"]},
                           frames={"test": [*frames, 50]})  # fmt: skip
    # a copy of the demo BiGRU in the published layout: no manifest, so it carries the published record
    bundle = tmp_path / "bundle"
    for rel in ("checkpoints/best_bigru_attention_model.pt", "metadata/label_to_id.json", "metadata/id_to_label.json"):
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "weights" / "demo-bigru-attention" / rel, bundle / rel)

    status = main(["parity", str(data), "--videos", str(examples), "--write", str(bundle), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["compared"] == 2 and report["missing_videos"] == ["not_here.mp4"]
    hidden = {k: getattr(HIDDEN, k) for k in FEATURE_UNKNOWNS}
    assert report["best"] == hidden and report["settled"] == hidden and report["undetermined"] == []
    assert report["frames_match_original"] == 2
    best, runner_up = report["variants"][:2]
    assert best["median"] < 1e-3 < report["variants"][-1]["median"]  # float16 storage only, against real differences
    assert runner_up["median"] > best["median"] and runner_up["config"]["first_velocity"] != "repeat"
    assert len(report["variants"]) == 96
    assert min(report["by_option"]["resample"], key=report["by_option"]["resample"].get) == "interpolate"
    assert "best: resample=interpolate shoulder_reference=clip" in format_report(report)

    loaded = load_bundle_dir(bundle)
    assert FeatureConfig.from_dict(loaded.preprocessing) == FeatureConfig.from_dict({**BIGRU_FEATURES.to_dict(), **hidden})
    assert set(loaded.assumed) == {"activation"}  # what parity cannot tell stays assumed
    assert set(loaded.manifest["settled"]) == {*hidden, "landmark_extraction_fps"}
