#!/usr/bin/env bash
# Rebuild the real ASL keypoint model weights/wlasl100-hands-bigru-attention from ../shared (WLASL hand
# landmarks of real signers; WLASL's C-UDA licence: the model may ship, the landmarks may not).
# Wall times on the 2-core development machine (shared with other jobs) are in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HANDS=${HANDS:-../shared/data/wlasl_hands}
OUT=weights/wlasl100-hands-bigru-attention
DESC="BiGRU-attention trained by signdemo on MediaPipe Hands landmarks of real signers: WLASL100 (100 glosses), official WLASL split, hands only (no pose). Licence of the data: WLASL C-UDA."

# 0. which of the two detection-order hand slots is the left hand: each rule against Holistic
$PY -m signdemo.train.wlasl_hands "$HANDS" --check-handedness ../shared/data/wlasl_clips
# 1. hand landmarks -> (996, 200, 450) features: pose dropped, one hand-size normalisation per clip
$PY -m signdemo.train.wlasl_hands "$HANDS" --out data/wlasl100-hands --num-classes 100 --pose drop --normalize hands
# 2. the published BiGRU-attention layout; the checkpoint of the best validation top-1 is kept
$PY -m signdemo.train.bigru data/wlasl100-hands --out "$OUT" --name wlasl100-hands-bigru-attention \
    --epochs 30 --batch-size 64 --lr 8e-4 --augment affine+mirror --patience 8 --threads 1 \
    --provenance-kind project --description "$DESC"
rm -f "$OUT/checkpoints/last_bigru_attention_model.pt"
# 3. the same model on real video through the app's own path (Holistic on the shared clips)
$PY -m signdemo.train.wlasl_hands "$HANDS" --compare-sources ../shared/data/wlasl_clips --bundle "$OUT" \
    --rates 15 --landmark-models holistic --json "$OUT/reports/full_path_check.json"
# 4. the manifest lists (and hashes) what the folder now holds
$PY -c "from signdemo.weights import load_bundle, update_manifest; update_manifest(load_bundle('$OUT'))"
