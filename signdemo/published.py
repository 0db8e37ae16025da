"""The input contracts of the published models, as far as public sources tell them.

A bundle without our manifest has no record of how its inputs were made, so it gets one here:

- the BiGRU-attention of `SharoonArshad/asl-citizen-bigru-attention-encoder-200` (and any bundle
  folder in its layout): what its data set's `metadata/preprocessing_config.json` states
  (MediaPipe keypoints, pose 0-32 / left hand 33-53 / right hand 54-74, missing points filled with
  zeros, x and y in [0, 1] of the frame, "shoulder center subtraction and shoulder width scaling",
  200 frames, velocities, 450 features), and for every choice it leaves open our best reading,
  listed in `ASSUMED` with the reason. A bundle's record lists what is still assumed
  (`Bundle.assumed`), and the model card marks those options "assumed" until
  `python -m signdemo parity` (features) or `python -m signdemo evaluate --try-assumptions`
  (the activation) settles them on real data.
- a bare WLASL I3D checkpoint: the contract of WLASL's training code (`i3d_input.WLASL_INPUT`).
"""

from __future__ import annotations

import dataclasses

from signdemo.features import NUM_FRAMES, FeatureConfig
from signdemo.i3d_input import WLASL_INPUT

#: Our best reading of the published BiGRU's preprocessing.
BIGRU_FEATURES = FeatureConfig(
    num_frames=NUM_FRAMES,
    resample="pad",
    normalize="shoulder",
    hand_order="left_right",
    velocity="raw",
    shoulder_reference="frame",
    shoulder_dims="xyz",
    missing="normalized",
    first_velocity="zero",
)
#: Our best reading of the published BiGRU's parameterless layers (merged into its model args).
BIGRU_MODEL_ARGS = {"activation": "gelu"}
#: Landmark rows per second of the published keypoints; 0 = one row per video frame.
BIGRU_EXTRACTION_FPS = 0

#: Every option the public record leaves open: why we chose the value we did.
ASSUMED: dict[str, str] = {
    "resample": "pad: the manifests record each clip's original_frames beside target_len 200, which a "
    "pipeline that truncates or zero-pads keeps and one that resamples has no use for",
    "shoulder_reference": "frame: the shoulder centre and width of each frame, what the plain formula over a "
    "(T, 75, 3) array computes; nothing in the record speaks of a clip-level reference",
    "shoulder_dims": "xyz: the shoulder points are taken whole, as the (T, 75, 3) 'used_format' holds them "
    "(centre and width over x, y, z); no coordinate is singled out in the record",
    "missing": "normalized: the upstream keypoints fill missing points with zeros and carry no mask (the "
    "4th value was dropped as 'likely visibility'), so nothing told the normalisation which points were filled",
    "velocity": "raw: the plain frame difference of the normalised, padded positions (no mask was kept to "
    "zero anything)",
    "first_velocity": "zero: the usual np.diff with the first frame prepended; the record only says "
    "use_velocity: true",
    "activation": "gelu: the parameterless layers after the projection and embedding LayerNorms are not in "
    "the state_dict; GELU is what this architecture's code has used",
    "landmark_extraction_fps": "every frame: the keypoints have one row per frame of the source video "
    "(original_frames)",
}

#: The feature options `python -m signdemo parity` tries: each unknown with its readings.
FEATURE_UNKNOWNS: dict[str, tuple[str, ...]] = {
    "resample": ("interpolate", "pad"),
    "shoulder_reference": ("frame", "clip"),
    "shoulder_dims": ("xy", "xyz"),
    "missing": ("zero", "normalized"),
    "velocity": ("masked", "raw"),
    "first_velocity": ("zero", "repeat", "position"),
}
#: The model-side unknowns `python -m signdemo evaluate --try-assumptions` tries.
MODEL_UNKNOWNS: dict[str, tuple[str, ...]] = {"activation": ("gelu", "relu", "none")}


def bigru_record() -> dict:
    """The record a manifest-less BiGRU bundle gets: preprocessing, model args to merge, the
    landmark extraction rate and the assumed options with their reasons."""
    return {
        "preprocessing": BIGRU_FEATURES.to_dict(),
        "model_args": dict(BIGRU_MODEL_ARGS),
        "landmark_extraction_fps": BIGRU_EXTRACTION_FPS,
        "assumed": dict(ASSUMED),
    }


def i3d_record() -> dict:
    """The record a bare WLASL I3D checkpoint gets (nothing assumed: WLASL's code states it)."""
    return {"preprocessing": dataclasses.asdict(WLASL_INPUT), "model_args": {}, "assumed": {}}


def feature_variants(base: FeatureConfig, fields: dict[str, tuple[str, ...]] = FEATURE_UNKNOWNS) -> list[FeatureConfig]:
    """Every combination of the readings in `fields` on top of `base` (shoulder normalisation on)."""
    variants = [dataclasses.replace(base, normalize="shoulder")]
    for name, values in fields.items():
        variants = [dataclasses.replace(v, **{name: value}) for v in variants for value in values]
    return variants
