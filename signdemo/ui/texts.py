"""Help texts shown in the page (markdown), kept in one place so the wording stays consistent."""

TITLE = "signdemo: isolated sign recognition, two ways"

INTRO = (
    "# signdemo: isolated sign recognition, two ways\n"
    "One clip, two models side by side: **MediaPipe keypoints → BiGRU-attention** and "
    "**RGB frames → I3D**. Record or upload a short clip of one sign; see the landmarks the keypoint "
    "model reads, both models' top-5, and which moments of the sign the keypoint model attended to."
)

ORIENTATION = (
    "**Orientation.** The models always see the signer *unmirrored*, as a camera facing the signer "
    "sees them (like the videos they were trained on). The webcam preview is shown as a mirror "
    "(selfie view) for comfort, but a recording here is stored as the camera sees you, so leave "
    "the box unticked for webcam recordings. Tick **the clip is mirrored (selfie view)** only for an "
    "uploaded clip that was saved mirrored (some phone front cameras and selfie apps do this): it "
    "is flipped back before anything else happens."
)

RECOGNISE = (
    "Clips up to 10 s; larger frames are downscaled. The keypoint model needs the signer's head, "
    "shoulders and hands in view (MediaPipe finds the hands from the body; a hands-only model then "
    "reads the hands alone); if nobody is detected, the RGB model still answers and you get a "
    "warning. The real ASL keypoint model knows 100 isolated WLASL signs (the \"try these\" list); "
    "the synthetic demo pair, one click away, knows 14 made-up movements of a drawn figure."
)

LIVE = (
    "Start the webcam and sign. Every frame goes through MediaPipe (your own graph, for this tab "
    "only); the keypoint model re-scores the last few seconds a few times a second. The image on the "
    "right is drawn in the same selfie view as your preview; the models see it unmirrored. The RGB "
    "model (I3D) scores the last 2 s on its own about once a second, beside the overlay. Nothing "
    "is recorded or shared with other visitors; your frames are dropped when you close the tab."
)

INSPECT = (
    "Run the models over a labelled set and look at their mistakes. Pick a built-in set, upload "
    "clips with a labels CSV (columns `file`, `label`), or upload an `(N, 200, 450)` keypoint `.npy` "
    "with its manifest CSV (a `label` column, one row per sample; only the keypoint model can score "
    "these). Where folders on this machine are allowed, the folder box also takes a processed-200 "
    "keypoint set (the published BiGRU's data layout: a folder, or `hf://datasets/owner/name@revision`; "
    "add `#val` for another split than test); its label map is checked against the model's. Scores "
    "count only samples whose label is in the model's vocabulary and that the model answered; the "
    "others are counted, not hidden."
)

MODELS = (
    "What each loaded model is, where its weights came from, and the scores its training run "
    "measured (from the bundle's `reports/`; nothing else is ever shown as an accuracy). Load another "
    "bundle for your session from a folder on this machine or from the Hugging Face hub "
    "(`hf://owner/repo@revision`)."
)

TRAINING = (
    "The scripts that trained these models ship with the app. Each one's command line is below; pick "
    "one to read its source. A trained output folder dropped into `weights/` is picked up on the "
    "next start."
)

EXAMPLES_LABEL = "Examples (held-out synthetic clips, answered by the synthetic demo pair, not ASL)"
NO_EXAMPLES = "No example clips in `examples/` yet: record or upload a clip."
