#!/usr/bin/env bash
# Rebuild the real ASL keypoint models weights/wlasl100-hands-bigru-attention (the default) and
# weights/wlasl300-hands-bigru-attention from ../shared (WLASL hand landmarks of real signers; WLASL's
# C-UDA licence: the models may ship, the landmarks may not).
# Wall times on the 2-core development machine (shared with other jobs) are in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HANDS=${HANDS:-../shared/data/wlasl_hands}
OUT=weights/wlasl100-hands-bigru-attention
DESC="BiGRU-attention trained by signdemo on MediaPipe Hands landmarks of real signers: WLASL100 (100 glosses; trained on the clips of all 300 WLASL300 glosses, answers over the 100), official WLASL split, hands only (no pose). Licence of the data: WLASL C-UDA."

# 0. which of the two detection-order hand slots is the left hand: each rule against Holistic
$PY -m signdemo.train.wlasl_hands "$HANDS" --check-handedness ../shared/data/wlasl_clips
# 1. hand landmarks of the 300 WLASL300 glosses (WLASL100's are the first 100) -> (2623, 200, 450) features:
#    pose dropped, one hand-size normalisation per clip
$PY -m signdemo.train.wlasl_hands "$HANDS" --out data/wlasl300-hands --num-classes 300 --pose drop --normalize hands
# 2. the published BiGRU-attention layout, trained on the clips of all 300 glosses; validation, the
#    checkpoint of the best validation top-1 and the test figures on the WLASL100 clips, scored over
#    the 100 glosses, whose rows of the head are what ships
$PY -m signdemo.train.bigru data/wlasl300-hands --keep-classes 100 --out "$OUT" --name wlasl100-hands-bigru-attention \
    --epochs 40 --batch-size 64 --lr 8e-4 --augment affine+mirror --patience 10 --threads 1 \
    --provenance-kind project --description "$DESC"
rm -f "$OUT/checkpoints/last_bigru_attention_model.pt"
# 3. the same model on real video through the app's own path (Holistic on the shared clips)
$PY -m signdemo.train.wlasl_hands "$HANDS" --compare-sources ../shared/data/wlasl_clips --bundle "$OUT" \
    --rates 15 --landmark-models holistic --json "$OUT/reports/full_path_check.json"
# 4. the manifest lists (and hashes) what the folder now holds
$PY -c "from signdemo.weights import load_bundle, update_manifest; update_manifest(load_bundle('$OUT'))"

# 5. the WLASL300 model: the same data, all 300 glosses scored, validated and shipped (no --keep-classes),
#    50 epochs with label smoothing 0.2
OUT300=weights/wlasl300-hands-bigru-attention
DESC300="BiGRU-attention trained by signdemo on MediaPipe Hands landmarks of real signers: WLASL300 (300 glosses), official WLASL split, hands only (no pose). Licence of the data: WLASL C-UDA."
$PY -m signdemo.train.bigru data/wlasl300-hands --out "$OUT300" --name wlasl300-hands-bigru-attention \
    --epochs 50 --batch-size 64 --lr 8e-4 --augment affine+mirror --patience 15 --threads 1 --label-smoothing 0.2 \
    --provenance-kind project --description "$DESC300"
rm -f "$OUT300/checkpoints/last_bigru_attention_model.pt"
$PY -m signdemo.train.wlasl_hands "$HANDS" --compare-sources ../shared/data/wlasl_clips --bundle "$OUT300" \
    --rates 15 --landmark-models holistic --json "$OUT300/reports/full_path_check.json"
$PY -c "from signdemo.weights import load_bundle, update_manifest; update_manifest(load_bundle('$OUT300'))"
