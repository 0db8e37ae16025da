"""Inference API: a clip (or a keypoint array) in, both models' predictions out.

    recognizer = Recognizer.from_defaults()          # resolves and loads both bundles once
    result = recognizer.recognize("clip.mp4")        # ClipResult with .bigru and .i3d
    pred = recognizer.predict_features(x)            # BiGRU alone on a (200, 450) keypoint array

Models are shared read-only; every call creates its own MediaPipe graph, so one `Recognizer` serves
concurrent requests. Nothing here imports gradio.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import torch

from signdemo.errors import NoPersonDetectedError, SigndemoError
from signdemo.features import FeatureConfig, feature_frame_positions, landmarks_to_features
from signdemo.runtime import I3DRunner, RuntimeOptions, extract_landmarks_parallel, torch_threads
from signdemo.weights import BIGRU, I3D, Bundle, resolve_bundle

if TYPE_CHECKING:
    from signdemo.landmarks import Landmarks, LandmarkStream, SplicedLandmarkStream
    from signdemo.video import Clip, VideoLimits

log = logging.getLogger(__name__)

#: Landmark rows per second extracted from a clip when the BiGRU bundle records no rate of its own
#: (the features resample to 200 steps anyway; the training data preparation uses the same rate).
DEFAULT_EXTRACTION_FPS = 15.0
_FROM_BUNDLE = -1.0

#: Progress callback: (fraction done in [0, 1], what is happening).
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    pass


@dataclass
class Prediction:
    """One model's answer on one clip."""

    model: str  # "bigru_attention" or "i3d"
    labels: list[str]  # top-k labels, best first
    probabilities: list[float]  # their softmax probabilities
    indices: list[int]  # their class ids
    scores: np.ndarray  # (C,) probabilities over the whole vocabulary
    weight_source: str  # Bundle.describe(): which weights, vocabulary size, where from
    is_demo: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: Every label the model knows, in class-id order (the bundle's vocabulary).
    vocabulary: list[str] = field(default_factory=list)
    #: BiGRU: (200,) attention weights over the feature steps (sum to 1).
    attention: np.ndarray | None = None
    #: BiGRU: (200,) source-video frame index of each feature step (-1 for padding).
    attention_frames: np.ndarray | None = None
    #: I3D: (T', C) per-time softmax scores, and the source-video frame at the centre of each step.
    time_scores: np.ndarray | None = None
    time_frames: np.ndarray | None = None
    #: Source-video frame indices the model read (landmark rows or sampled RGB frames).
    frame_indices: np.ndarray | None = None

    @property
    def top1(self) -> str:
        return self.labels[0]

    def as_dict(self) -> dict:
        """JSON-friendly summary (top-k, timings, source; attention as a list)."""
        out = {
            "model": self.model,
            "top": [{"label": l, "probability": round(p, 6), "index": i}
                    for l, p, i in zip(self.labels, self.probabilities, self.indices)],  # fmt: skip
            "weights": self.weight_source,
            "demo_weights": self.is_demo,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.attention is not None:
            out["attention"] = [round(float(a), 6) for a in self.attention]
        return out


@dataclass
class ClipResult:
    """Everything the app shows for one clip."""

    path: str
    info: object | None = None  # video.VideoInfo
    landmarks: "Landmarks | None" = None
    bigru: Prediction | None = None
    i3d: Prediction | None = None
    errors: dict[str, SigndemoError] = field(default_factory=dict)  # model -> why it has no answer
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: The decoded clip the answers are about (frames as the models saw them; not in `as_dict`).
    clip: "Clip | None" = field(default=None, repr=False)

    @property
    def comparable(self) -> bool:
        """Both models answered, about the same kind of signs (both demo weights or neither: the
        synthetic signer's made-up movements share some names with ASL glosses, "love" or "stop", but
        are other movements) and with at least one label in common; else their top-1s cannot be
        compared."""
        if self.bigru is None or self.i3d is None or self.bigru.is_demo != self.i3d.is_demo:
            return False
        return bool(_label_set(self.bigru.vocabulary) & _label_set(self.i3d.vocabulary))

    @property
    def agree(self) -> bool | None:
        """Whether both models' top-1 labels agree (None unless both answered with shared labels)."""
        if not self.comparable:
            return None
        return self.bigru.top1.strip().lower() == self.i3d.top1.strip().lower()

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "bigru": self.bigru.as_dict() if self.bigru else None,
            "i3d": self.i3d.as_dict() if self.i3d else None,
            "agree": self.agree,
            "errors": {k: f"{type(v).__name__}: {v}" for k, v in self.errors.items()},
            "warnings": self.warnings,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def _label_set(labels: list[str]) -> set[str]:
    return {str(label).strip().lower() for label in labels}


def _topk(probs: np.ndarray, labels: list[str], k: int) -> tuple[list[str], list[float], list[int]]:
    order = np.argsort(-probs)[: min(k, len(labels))]
    return [labels[i] for i in order], [float(probs[i]) for i in order], [int(i) for i in order]


#: Where the I3D runs when it starts beside the keypoint landmarks (`Recognizer.i3d_beside_threads`):
#: two at a time, for two clips in flight (the app's `concurrency_limit` of the recognise event).
_BACKGROUND = ThreadPoolExecutor(2, thread_name_prefix="i3d-beside")


class Recognizer:
    """Both models, loaded once. Either may be None (that model is then skipped)."""

    def __init__(
        self,
        bigru: Bundle | None,
        i3d: Bundle | None,
        *,
        limits: "VideoLimits | None" = None,
        extraction_fps: float | None = _FROM_BUNDLE,
        landmark_model: str | None = None,
        top_k: int = 5,
        i3d_reduce: str = "max",
        runtime: RuntimeOptions = RuntimeOptions(),
    ) -> None:
        from signdemo.video import VideoLimits

        if bigru is not None and bigru.architecture != BIGRU:
            raise ValueError(f"bigru bundle is a {bigru.architecture} model")
        if i3d is not None and i3d.architecture != I3D:
            raise ValueError(f"i3d bundle is a {i3d.architecture} model")
        self.bigru = bigru
        self.i3d = i3d
        self.limits = limits or VideoLimits()
        if extraction_fps == _FROM_BUNDLE:
            recorded = (bigru.provenance if bigru else {}).get("landmark_extraction_fps")
            # 0 records "every frame" (the published BiGRU's keypoints have a row per video frame).
            extraction_fps = DEFAULT_EXTRACTION_FPS if recorded is None else (float(recorded) or None)
        #: Rate of the landmark rows (None: every decoded frame).
        self.extraction_fps = extraction_fps
        from signdemo.landmarks import DEFAULT_LANDMARK_MODEL, LANDMARK_MODELS

        if landmark_model is None:  # the bundle's record
            landmark_model = (bigru.provenance if bigru else {}).get("landmark_model", DEFAULT_LANDMARK_MODEL)
        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(f"unknown landmark model {landmark_model!r} (known: {sorted(LANDMARK_MODELS)})")
        #: The MediaPipe graph the keypoint model's landmarks come from (`landmarks.LANDMARK_MODELS`):
        #: the one its bundle records (provenance `landmark_model`), Holistic when it records none.
        self.landmark_model = landmark_model
        self.top_k = top_k
        self.i3d_reduce = i3d_reduce
        self.runtime = runtime
        #: Warm MediaPipe graphs of the landmark workers (None: a fresh graph per clip).
        self.graphs = None
        if runtime.warm_graphs and bigru is not None:
            from signdemo.landmarks import GraphPool

            self.graphs = GraphPool(keep=runtime.landmark_workers, model=landmark_model, **self.graph_options)
        crop = self.i3d_config.crop if i3d is not None else 224
        self.i3d_runner = I3DRunner(i3d.model, runtime, input_size=(crop, crop)) if i3d is not None else None

    @classmethod
    def from_defaults(
        cls, *, bigru: str | None = None, i3d: str | None = None, models: tuple[str, ...] = (BIGRU, I3D), **kwargs
    ) -> "Recognizer":
        """Load each model in `models` (a named source, else weights/ -> hub -> demo bundle); the
        others are left out (None)."""
        from signdemo.weights import load_bundle

        def get(arch: str, source: str | None) -> Bundle | None:
            if arch not in models:
                return None
            return load_bundle(source) if source else resolve_bundle(arch)

        return cls(get(BIGRU, bigru), get(I3D, i3d), **kwargs)

    def warm_up(self) -> dict[str, float]:
        """Pay the first-call costs before the first visitor does: the landmark graphs are made
        and kept, each model runs once on zeros. Returns seconds per part."""
        spent = {}
        t = time.perf_counter()
        if self.graphs is not None:
            self.graphs.warm(self.runtime.landmark_workers)
            spent["graphs"] = time.perf_counter() - t
        if self.bigru is not None:
            t = time.perf_counter()
            self.predict_features(np.zeros((self.feature_config.num_frames, self.bigru.model_args.get("input_dim", 450)),
                                           np.float32))  # fmt: skip
            spent["bigru"] = time.perf_counter() - t
        if self.i3d is not None:
            t = time.perf_counter()
            cfg = self.i3d_config
            x = torch.zeros(1, 3, cfg.num_frames, cfg.crop, cfg.crop)
            self.i3d_runner(x)
            if self.i3d_beside_threads:  # its own compiled model on OpenVINO: made now, not for the first clip
                self.i3d_runner(x, threads=self.i3d_beside_threads)
            spent["i3d"] = time.perf_counter() - t
        log.info("warmed up: %s", ", ".join(f"{k} {v:.2f} s" for k, v in spent.items()))
        return spent

    # ---------------------------------------------------------------- preprocessing from bundles

    @property
    def graph_options(self) -> dict:
        """Options of a landmark graph of `landmark_model` under the runtime options."""
        return {"face_mesh": self.runtime.face_mesh} if self.landmark_model == "holistic" else {}

    def new_extractor(self):
        """A fresh landmark graph of the keypoint model's landmark model (e.g. for a live session)."""
        from signdemo.landmarks import new_extractor

        return new_extractor(self.landmark_model, **self.graph_options)

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.bigru.preprocessing if self.bigru else {})

    @property
    def i3d_config(self):
        from signdemo.i3d_input import I3DInputConfig

        pre = dict(self.i3d.preprocessing) if self.i3d else {}
        return I3DInputConfig(**pre)

    # ---------------------------------------------------------------- BiGRU

    @torch.inference_mode()
    def predict_features(self, features: np.ndarray, *, frame_indices: np.ndarray | None = None) -> Prediction:
        """BiGRU on one (200, 450) feature matrix (the exchange format's row)."""
        if self.bigru is None:
            raise SigndemoError("no BiGRU-attention weights are loaded")
        t0 = time.perf_counter()
        x = torch.from_numpy(np.asarray(features, dtype=np.float32))[None]  # (1, 200, 450)
        with torch_threads(self.runtime.bigru_threads):
            out = self.bigru.model.forward_with_attention(x)
        probs = torch.softmax(out.logits.float(), dim=1)[0].numpy()  # (C,)
        labels, p, idx = _topk(probs, self.bigru.labels, self.top_k)
        return Prediction(
            model=BIGRU,
            labels=labels,
            probabilities=p,
            indices=idx,
            scores=probs,
            weight_source=self.bigru.describe(),
            is_demo=self.bigru.is_demo,
            timings_ms={"bigru": (time.perf_counter() - t0) * 1000},
            vocabulary=self.bigru.labels,
            attention=out.attention[0].float().numpy(),
            frame_indices=frame_indices,
        )

    def unscorable_reason(self, landmarks: "Landmarks") -> str | None:
        """Why the keypoint model cannot score these landmarks (None: it can): a model that reads the
        pose needs one on some frame, a hands-only model a hand."""
        if self.feature_config.uses_pose:
            if landmarks.present[:, 0].any():
                return None
            return ("no person was detected in the clip (MediaPipe found no body pose on any frame), so the "
                    "keypoint model cannot score it. Make sure the signer's upper body and face are in view "
                    "and well lit.")  # fmt: skip
        if landmarks.any_hand().any():
            return None
        return ("no hand was detected on any frame, and this keypoint model reads the hands only, so it "
                "cannot score the clip. Keep both hands in view and well lit while signing.")  # fmt: skip

    def predict_landmarks(self, landmarks: "Landmarks") -> Prediction:
        """BiGRU on extracted landmarks; attention is mapped back to source-video frames."""
        config = self.feature_config
        reason = self.unscorable_reason(landmarks)
        if reason:
            raise NoPersonDetectedError(reason)
        t0 = time.perf_counter()
        feats = landmarks_to_features(landmarks.points, landmarks.present, config)
        t_feat = (time.perf_counter() - t0) * 1000
        pred = self.predict_features(feats, frame_indices=landmarks.frame_indices)
        pos = feature_frame_positions(len(landmarks.points), config)
        pred.attention_frames = np.where(pos >= 0, landmarks.frame_indices[np.maximum(pos, 0)], -1)
        pred.timings_ms = {"features": t_feat, **pred.timings_ms}
        return pred

    # ---------------------------------------------------------------- I3D

    def i3d_input(self, frames: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The I3D's input for decoded BGR frames (T, H, W, 3) under the bundle's recorded contract:
        the (1, 3, k, 224, 224) tensor and the (k,) positions into `frames` it was made from."""
        from signdemo.i3d_input import frame_indices, preprocess_clip

        cfg = self.i3d_config
        idx = frame_indices(len(frames), cfg)
        return preprocess_clip(frames, cfg, indices=idx), idx

    def predict_frames(self, frames: np.ndarray, source_indices: np.ndarray | None = None, *,
                       threads: int | None = None) -> Prediction:  # fmt: skip
        """I3D on decoded BGR frames (T, H, W, 3); samples and preprocesses per the bundle.
        threads: CPU threads of the I3D for this call (see `I3DRunner.__call__`)."""
        from signdemo.models.i3d import clip_scores

        if self.i3d is None:
            raise SigndemoError("no I3D weights are loaded")
        t0 = time.perf_counter()
        x, idx = self.i3d_input(frames)  # (1, 3, T, 224, 224)
        t1 = time.perf_counter()
        logits_t = self.i3d_runner(x, threads=threads)  # (1, C, T')
        t2 = time.perf_counter()
        per_time = torch.softmax(logits_t[0].float().transpose(0, 1), dim=1).numpy()  # (T', C)
        # WLASL's evaluation takes the max over time of the per-time logits.
        probs = torch.softmax(clip_scores(logits_t.float(), self.i3d_reduce)[0], dim=0).numpy()  # (C,)
        labels, p, ids = _topk(probs, self.i3d.labels, self.top_k)
        src = np.asarray(source_indices) if source_indices is not None else np.arange(len(frames))
        used = src[idx]
        centres = np.linspace(0, len(used) - 1, per_time.shape[0] + 2)[1:-1] if per_time.shape[0] else []
        return Prediction(
            model=I3D,
            labels=labels,
            probabilities=p,
            indices=ids,
            scores=probs,
            weight_source=self.i3d.describe(),
            is_demo=self.i3d.is_demo,
            timings_ms={"i3d_preprocess": (t1 - t0) * 1000, "i3d": (t2 - t1) * 1000},
            vocabulary=self.i3d.labels,
            time_scores=per_time,
            time_frames=used[np.rint(centres).astype(np.int64)] if len(centres) else np.zeros(0, np.int64),
            frame_indices=used,
        )

    # ---------------------------------------------------------------- whole clips

    def extract(self, clip: "Clip") -> "Landmarks":
        """MediaPipe landmarks of a decoded clip at the configured extraction rate: a Hands clip on
        two spliced graphs where the recognizer splices (`splices_hands`), else on one; Holistic's
        split between its landmark workers."""
        from signdemo.landmarks import extract_landmarks_spliced

        pos = clip.subsample(self.extraction_fps)
        fps = clip.fps * len(pos) / max(len(clip), 1)
        if self.splices_hands:
            return extract_landmarks_spliced(clip.frames[pos], clip.source_indices[pos], fps, **self._graph_source)
        workers = 1 if self.splices_hands else self.graphs_per_clip  # Hands: one graph unless spliced
        return extract_landmarks_parallel(clip.frames[pos], clip.source_indices[pos], fps, workers=workers,
                                          **self._graph_source)  # fmt: skip

    @property
    def _graph_source(self) -> dict:
        """Where a clip's landmark graph comes from, as keyword arguments of `landmarks.extract_landmarks`
        (and `LandmarkStream`): the warm pool, else a new graph of the recognizer's model and options."""
        if self.graphs is not None:
            return {"pool": self.graphs}
        return {"model": self.landmark_model, **self.graph_options}

    @property
    def i3d_beside_threads(self) -> int | None:
        """CPU threads of an I3D started beside the keypoint landmarks (`RuntimeOptions.i3d_beside_landmarks`):
        the cores one landmark graph leaves; None when the I3D runs after the keypoint answer (both
        models not loaded, the option off, or a clip's landmarks on every core: Holistic's chunks,
        or a Hands clip spliced from two graphs (`splices_hands`), for every request that has the
        keypoint model).
        Measured on 2 cores, I3D on 64 frames, alternating (BENCHMARKS.md, "Both models on one clip"):
        on a slower host (3-s clip) spliced with the I3D after gave the keypoint answer in 1.43-1.45 s
        against 2.1-2.2 s for one graph with the I3D beside, both answers 2.9-3.1 s against 2.7-2.8 s;
        on a faster one 0.77 against 0.97 s (12 clips), both answers 1.34 against 1.23 s.
        The keypoint answer is the one people wait for, so a spliced clip runs its I3D after."""
        if self.bigru is None or self.i3d is None or not self.runtime.i3d_beside_landmarks:
            return None
        if self.graphs_per_clip > 1:  # Holistic's chunks, or a Hands clip spliced from two graphs
            return None
        return max(1, (os.cpu_count() or 2) - 1)

    def _landmark_stream(self, models: tuple[str, ...]) -> "LandmarkStream | SplicedLandmarkStream | None":
        """A `LandmarkStream` to feed while the clip decodes, where the keypoint model runs on one graph
        (`RuntimeOptions.stream_landmarks`), or a `SplicedLandmarkStream` where a Hands clip is spliced
        from two graphs (`splices_hands`); else None. Its rows are used when every decoded frame is
        to be extracted (the clip's rate at or below the extraction rate, known once it is decoded:
        `recognize_stream` cancels the stream otherwise and extracts the subsampled frames)."""
        if BIGRU not in models or self.bigru is None or not self.runtime.stream_landmarks:
            return None
        if self.graphs_per_clip > 1 and not self.splices_hands:  # Holistic's chunks: after decoding
            return None
        from signdemo.landmarks import LandmarkStream, SplicedLandmarkStream

        if self.splices_hands:
            return SplicedLandmarkStream(**self._graph_source)
        return LandmarkStream(**self._graph_source)

    @property
    def splices_hands(self) -> bool:
        """Whether a clip's landmarks run on two graphs spliced where they agree (a Hands model with
        `RuntimeOptions.splice_hands`, default on, and two landmark workers or more)."""
        from signdemo.landmarks import SPLIT_BETWEEN_GRAPHS

        return self.graphs_per_clip > 1 and SPLIT_BETWEEN_GRAPHS[self.landmark_model] == "splice"

    @property
    def graphs_per_clip(self) -> int:
        """Landmark graphs one clip runs on (`landmarks.SPLIT_BETWEEN_GRAPHS`): the landmark workers
        for Holistic (chunks); for Hands two, spliced where they agree (`RuntimeOptions.splice_hands`),
        else one."""
        from signdemo.landmarks import SPLIT_BETWEEN_GRAPHS

        workers = max(1, self.runtime.landmark_workers)
        if SPLIT_BETWEEN_GRAPHS[self.landmark_model] == "splice":
            return min(workers, 2) if self.runtime.splices_hands else 1
        return workers

    def recognize_stream(
        self,
        path: str | Path,
        *,
        mirror: bool = False,
        models: tuple[str, ...] = (BIGRU, I3D),
        progress: Progress = _no_progress,
        clip: "Clip | None" = None,
    ) -> Iterator[ClipResult]:
        """Like `recognize`, but yields the (same, growing) result after each model, so the BiGRU
        answer can be shown before the slower I3D has finished."""
        from signdemo.video import read_clip

        t0 = time.perf_counter()
        result = ClipResult(path=str(path))
        progress(0.0, "decoding video")
        stream = None if clip is not None else self._landmark_stream(models)
        beside = None  # the I3D, started once decoded on the cores the landmark graph leaves
        try:
            clip = clip or read_clip(path, self.limits, mirror=mirror, on_frame=stream.put if stream else None,
                                     on_start=stream.expect if stream else None)  # fmt: skip
            result.clip = clip
            result.info = clip.info
            result.warnings += clip.warnings  # about the input itself (truncated, very short, ...)
            result.timings_ms["decode"] = (time.perf_counter() - t0) * 1000
            if stream is not None and len(clip.subsample(self.extraction_fps)) != len(clip):
                stream.cancel()  # the clip's rate is above the extraction rate: extracted after all
                stream = None
            if BIGRU in models and I3D in models and self.i3d_beside_threads:
                beside = _BACKGROUND.submit(self.predict_frames, clip.frames, clip.source_indices,
                                            threads=self.i3d_beside_threads)  # fmt: skip
            yield from self._stream_models(result, clip, models, progress, t0, beside, stream)
        finally:
            if stream is not None:
                stream.cancel()  # idempotent; hands the graph back after an error (in decoding too)
            if beside is not None and not beside.cancel():  # after an error: not left running unseen
                with contextlib.suppress(Exception):
                    beside.result()

    def _stream_models(self, result: ClipResult, clip: "Clip", models: tuple[str, ...], progress: Progress,
                       t0: float, beside: "Future | None",
                       stream: "LandmarkStream | SplicedLandmarkStream | None") -> Iterator[ClipResult]:
        if BIGRU in models and self.bigru is not None:
            progress(0.1, "extracting landmarks")
            t = time.perf_counter()
            if stream is not None:  # begun while decoding; the graph's own time is the stage's
                result.landmarks = stream.result(clip.source_indices, clip.fps, frames=clip.frames)
                result.timings_ms["landmarks"] = stream.busy_s * 1000
                result.timings_ms["landmarks_after_decode"] = (time.perf_counter() - t) * 1000
            else:
                result.landmarks = self.extract(clip)
                result.timings_ms["landmarks"] = (time.perf_counter() - t) * 1000
            result.timings_ms["landmarks_per_frame"] = result.timings_ms["landmarks"] / max(len(result.landmarks), 1)
            result.warnings += _landmark_warnings(result.landmarks) + _truncation_warnings(self.feature_config,
                                                                                            len(result.landmarks))
            progress(0.5, "running the BiGRU-attention model")
            try:
                result.bigru = self.predict_landmarks(result.landmarks)
            except NoPersonDetectedError as exc:
                result.errors[BIGRU] = exc
                result.warnings.append(str(exc))
            result.timings_ms["bigru_answer"] = (time.perf_counter() - t0) * 1000
            yield result
        if I3D in models and self.i3d is not None:
            progress(0.7, "running the I3D model")
            result.i3d = beside.result() if beside is not None else self.predict_frames(clip.frames, clip.source_indices)
            result.warnings += i3d_frame_notes(self.i3d_config, len(clip))
            result.timings_ms["i3d_answer"] = (time.perf_counter() - t0) * 1000
        result.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        progress(1.0, "done")
        yield result

    def recognize(self, path: str | Path, **kwargs) -> ClipResult:
        """Decode, extract landmarks, run the models. Video errors raise; a model that cannot
        answer (e.g. no person for the BiGRU) is recorded in `errors` and the other still runs.
        Keyword arguments: mirror, models, progress, clip (see `recognize_stream`)."""
        result = None
        for result in self.recognize_stream(path, **kwargs):
            pass
        assert result is not None
        return result


#: Below this fraction of frames with a hand, a hands-only clip gets a warning (in the WLASL100 hand
#: data 62% of the frames have one: signers rest their hands out of view before and after the sign).
LOW_HAND_RATE = 0.2


def _landmark_warnings(landmarks: "Landmarks") -> list[str]:
    pose_rate = landmarks.detection_rate("pose")
    hands = max(landmarks.detection_rate("left_hand"), landmarks.detection_rate("right_hand"))
    warnings = []
    if 0 < pose_rate < 0.5:
        warnings.append(f"the body pose was found on only {pose_rate:.0%} of the frames analysed")
    if pose_rate > 0 and hands == 0:
        warnings.append("no hand was detected on any frame; keypoint predictions will be unreliable")
    any_hand = float(landmarks.any_hand().mean()) if len(landmarks.present) else 0.0
    if pose_rate == 0 and 0 < any_hand < LOW_HAND_RATE:  # landmarks of the hands only (MediaPipe Hands)
        warnings.append(f"a hand was found on only {any_hand:.0%} of the frames analysed, so the keypoint model saw "
                        "little of the sign; keep both hands in view and well lit while signing")  # fmt: skip
    return warnings


def _truncation_warnings(config: FeatureConfig, rows: int) -> list[str]:
    if config.resample == "pad" and rows > config.num_frames:
        return [f"the keypoint model sees the first {config.num_frames} of the clip's {rows} landmark rows (it "
                f"takes {config.num_frames} frames at the clip's rate; the rest is cut)"]
    return []


def i3d_frame_notes(config, num_frames: int) -> list[str]:
    """What the user should know about the frames the I3D saw (a long clip cut to the cap)."""
    if config.sampling == "all" and num_frames > config.num_frames:
        start = (num_frames - config.num_frames) // 2
        return [f"the I3D saw frames {start}-{start + config.num_frames - 1} of the clip's {num_frames}: it is given "
                f"at most {config.num_frames} consecutive frames at the clip's own rate (the middle of a longer clip)"]
    return []
