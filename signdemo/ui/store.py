"""The app's models: resolved and loaded once, on first use, and shared read-only by all sessions.

    store = ModelStore.from_env()          # nothing is loaded yet (safe at import time)
    rec = store.recognizer()               # loads the default bundles on the first call
    rec = store.recognizer({"i3d": "hf://owner/repo@rev"})   # a session's own choice

Which bundles load by default, per model: the source named in `SIGNDEMO_BIGRU` / `SIGNDEMO_I3D`
if set, else `weights.resolve_bundle` (bundles in `SIGNDEMO_WEIGHTS_DIR`, default `weights/` ->
the published hub repository -> the demo bundle). A model whose weights cannot be found is
recorded with the reason, and the other model still works.

A session may pick another bundle (Models tab). Bundles loaded that way are kept in a small shared
cache keyed by source, so two sessions asking for the same bundle share one copy; the session only
keeps the source string in its `gr.State`. Nothing here imports gradio.

Requests never change a model: a `Recognizer` is built once per combination of bundles and shared
(building one prepares the I3D's engine, e.g. its OpenVINO conversion, once, under a lock, never per
request while another request runs the model).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from signdemo.errors import SigndemoError, WeightsError
from signdemo.inference import Recognizer
from signdemo.weights import (
    ARCHITECTURES,
    BIGRU,
    I3D,
    WEIGHTS_DIR,
    Bundle,
    load_bundle,
    local_bundles,
    read_labels,
    resolve_bundle,
)

log = logging.getLogger(__name__)

#: Human names of the two models, as the page shows them.
MODEL_TITLES = {BIGRU: "Keypoints → BiGRU-attention", I3D: "RGB → I3D"}
#: The one label every demo bundle carries in the UI (their manifests say the same).
DEMO_LABEL = "demo weights trained on the synthetic signer, not ASL"

#: A session's choice of bundles: architecture -> source (folder, checkpoint or hf://...).
Selection = dict[str, str]


@dataclass
class Loaded:
    """The default bundles, or why a model has none."""

    bundles: dict[str, Bundle | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _lower(labels: list[str]) -> set[str]:
    return {label.lower() for label in labels}


class ModelStore:
    """Loads each bundle once and hands out `Recognizer`s over the shared, read-only models."""

    def __init__(
        self,
        *,
        sources: dict[str, str | None] | None = None,
        weights_dir: str | Path = WEIGHTS_DIR,
        use_hub: bool | None = None,
        recognizer_options: dict | None = None,
        max_extra: int = 4,
        bundles: dict[str, Bundle | None] | None = None,
    ) -> None:
        """
        sources: architecture -> a named source for the default bundle (else resolved).
        weights_dir: the folder of local bundles searched by `resolve_bundle`.
        use_hub: passed to `resolve_bundle` (None: the SIGNDEMO_USE_HUB environment variable).
        recognizer_options: keyword arguments of `Recognizer` (limits, extraction_fps, top_k, ...).
        max_extra: how many bundles loaded at run time (Models tab) stay in memory.
        bundles: already loaded default bundles (tests); skips resolution for those given.
        """
        self.sources = dict(sources or {})
        self.weights_dir = Path(weights_dir)
        self.use_hub = use_hub
        self.recognizer_options = dict(recognizer_options or {})
        self.max_extra = max_extra
        self._given = dict(bundles) if bundles is not None else None
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()
        self._extra: OrderedDict[str, Bundle] = OrderedDict()
        self._extra_lock = threading.Lock()
        self._recognizers: OrderedDict[tuple[int, int], Recognizer] = OrderedDict()
        self._recognizers_lock = threading.Lock()

    @classmethod
    def from_env(cls, **kwargs) -> "ModelStore":
        """A store configured by SIGNDEMO_WEIGHTS_DIR, SIGNDEMO_BIGRU and SIGNDEMO_I3D."""
        sources = {BIGRU: os.environ.get("SIGNDEMO_BIGRU") or None, I3D: os.environ.get("SIGNDEMO_I3D") or None}
        weights_dir = os.environ.get("SIGNDEMO_WEIGHTS_DIR") or WEIGHTS_DIR
        return cls(sources=sources, weights_dir=weights_dir, **kwargs)

    # ------------------------------------------------------------------ defaults

    def defaults(self) -> Loaded:
        """The default bundles, loaded on the first call (later calls return at once)."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load_defaults()
        return self._loaded

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    def fingerprint(self) -> str:
        """A digest of what the defaults would load (local manifests' checksums, named sources,
        hub settings), computed without loading anything."""
        parts = [json.dumps(self.sources, sort_keys=True), str(self.use_hub)]
        parts += [f"{k}={os.environ.get(k, '')}" for k in sorted(os.environ) if k.startswith("SIGNDEMO_")]
        for folder, manifest in local_bundles(self.weights_dir):
            parts.append(f"{folder.name}:{json.dumps(manifest.get('sha256') or {}, sort_keys=True)}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def preload_in_background(self) -> threading.Thread:
        """Start loading the defaults in a thread (at launch, so the first visitor does not wait):
        the bundles, then their shared `Recognizer` (the I3D converted or read from the cache),
        then one warm-up call of each part (`Recognizer.warm_up`)."""
        thread = threading.Thread(target=self._preload, name="signdemo-preload", daemon=True)
        thread.start()
        return thread

    def _preload(self) -> None:
        try:
            self.recognizer().warm_up()
        except Exception:  # noqa: BLE001 - the first request reports whatever is wrong, with the reason
            log.exception("preloading the default models failed")

    def _load_defaults(self) -> Loaded:
        loaded = Loaded()
        for arch in ARCHITECTURES:
            if self._given is not None and arch in self._given:
                loaded.bundles[arch] = self._given[arch]
                if self._given[arch] is None:
                    loaded.errors[arch] = f"no {MODEL_TITLES[arch]} weights were given"
                continue
            try:
                source = self.sources.get(arch)
                if source:
                    bundle = load_bundle(source)
                else:
                    bundle = resolve_bundle(arch, weights_dir=self.weights_dir, use_hub=self.use_hub)
                if bundle.architecture != arch:
                    raise WeightsError(f"{source} holds a {bundle.architecture} model, not a {arch} model")
                loaded.bundles[arch] = bundle
                log.info("loaded %s", bundle.describe())
            except SigndemoError as exc:
                log.warning("no %s weights: %s", arch, exc)
                loaded.bundles[arch] = None
                loaded.errors[arch] = str(exc)
        return loaded

    # ------------------------------------------------------------------ run-time bundles

    def load_extra(self, source: str) -> Bundle:
        """Load a bundle by source (folder, checkpoint folder or hf://owner/repo[@rev]), cached."""
        source = source.strip()
        if not source:
            raise WeightsError("give a bundle folder or hf://owner/repo[@revision]")
        with self._extra_lock:
            if source in self._extra:
                self._extra.move_to_end(source)
                return self._extra[source]
        bundle = load_bundle(source)  # outside the lock: a hub download can take a while
        with self._extra_lock:
            self._extra[source] = bundle
            while len(self._extra) > self.max_extra:
                dropped, _ = self._extra.popitem(last=False)
                log.info("dropped run-time bundle %s from memory", dropped)
        return bundle

    def bundle(self, architecture: str, selection: Selection | None = None) -> tuple[Bundle | None, str | None]:
        """The bundle a session uses for `architecture` and, if none, why."""
        source = (selection or {}).get(architecture)
        if source:
            try:
                return self.load_extra(source), None
            except SigndemoError as exc:
                return None, f"{source}: {exc}"
        loaded = self.defaults()
        return loaded.bundles.get(architecture), loaded.errors.get(architecture)

    def recognizer(self, selection: Selection | None = None) -> Recognizer:
        """The shared `Recognizer` over the session's bundles, built on first use of that pair.

        A few pairs are kept (the defaults plus the run-time bundles in memory); a Recognizer holds
        no per-request state, so concurrent requests share it."""
        bigru, _ = self.bundle(BIGRU, selection)
        i3d, _ = self.bundle(I3D, selection)
        key = (id(bigru), id(i3d))  # the Recognizer holds both bundles, so these ids stay theirs
        with self._recognizers_lock:
            rec = self._recognizers.get(key)
            if rec is None:
                rec = self._recognizers[key] = Recognizer(bigru, i3d, **self.recognizer_options)
                while len(self._recognizers) > self.max_extra + 1:
                    self._recognizers.popitem(last=False)
            else:
                self._recognizers.move_to_end(key)
        return rec

    def shipped(self) -> dict[str, tuple[Path, dict]]:
        """The bundle folders in `weights_dir` (what the project ships and what was dropped there),
        folder name -> (folder, manifest; {} if none): a session may switch to these even where
        arbitrary server paths are refused, since nothing but these names is accepted."""
        return {folder.name: (folder, manifest) for folder, manifest in local_bundles(self.weights_dir)}

    def demo_selection(self) -> Selection:
        """The synthetic demo pair: architecture -> its demo bundle folder in `weights_dir` ({} if none)."""
        out: Selection = {}
        for folder, manifest in local_bundles(self.weights_dir):
            arch = manifest.get("architecture")
            if (manifest.get("provenance") or {}).get("kind") == "demo" and arch in ARCHITECTURES:
                out.setdefault(arch, str(folder))
        return out

    def selection_knowing(self, label: str, *, demo: bool | None = None) -> Selection:
        """Bundles that know `label`, per model: none where the default bundle knows it, else the
        first local bundle whose vocabulary has it. With `demo`, only bundles of that kind count
        (demo or not): the synthetic signer's movements share a few names with ASL glosses ("time",
        "eat"), so a synthetic example must go to the demo pair even where a real model knows the
        word. A model nothing knows it for keeps its default."""
        key = label.strip().lower()
        out: Selection = {}
        for arch in ARCHITECTURES:
            default, _ = self.bundle(arch)
            if default is not None and (demo is None or default.is_demo == demo) and key in _lower(default.labels):
                continue
            for folder, manifest in local_bundles(self.weights_dir):
                if manifest.get("architecture") != arch or not (folder / "metadata/id_to_label.json").is_file():
                    continue
                if demo is not None and ((manifest.get("provenance") or {}).get("kind") == "demo") != demo:
                    continue
                if key in _lower(read_labels(folder / "metadata/id_to_label.json")):
                    out[arch] = str(folder)
                    break
        return out

    def status(self, selection: Selection | None = None) -> dict[str, tuple[Bundle | None, str | None]]:
        """architecture -> (bundle or None, reason when None), for the page's weights banner."""
        return {arch: self.bundle(arch, selection) for arch in ARCHITECTURES}
