#!/usr/bin/env bash
# Regenerate the demo data, the two demo bundles in weights/ and the examples, from scratch.
# Wall times on the 2-core development machine (shared with other jobs) are in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DESC="Demo weights trained on the synthetic signer (signdemo.synth), not ASL: 14 made-up arm-and-hand movements"

# 1. the synthetic signer's data set: 560 clips, 24 signers held out by split (16 train, 4 val, 4 test)
$PY -m signdemo.synth make data/synth --per-class 40 --seed 0 --workers 2
# 2. keypoints through the engine's own path (read_clip -> MediaPipe at 15 fps -> features)
$PY -m signdemo.train.prepare data/synth/labels.csv --out data/synth-kp --workers 2 --normalize shoulder
# 3. the BiGRU-attention demo bundle (published recipe, affine augmentation)
$PY -m signdemo.train.bigru data/synth-kp --out weights/demo-bigru-attention --name demo-bigru-attention \
    --provenance-kind demo --description "$DESC" --threads 1 --augment affine
# 4. the I3D demo bundle: 16 frames spread over the clip; the backbone up to MaxPool3d_4a_3x3 keeps its
#    random weights (BatchNorm statistics calibrated) and is cached once per clip, the rest is trained.
#    a) on the 16 training signers of data/synth (not shipped: the starting point of b); bf16 autocast
#       was used where the CPU has it, use --amp off where torch.ops.mkldnn._is_mkldnn_bf16_supported() is False
$PY -m signdemo.train.i3d data/synth/labels.csv --out data/demo-i3d-16-signers --name demo-i3d \
    --num-frames 16 --eval-frames 16 --freeze-through MaxPool3d_4a_3x3 --trunk-views 3 --no-hflip \
    --amp bf16 --save-dtype float16 --epochs 20 --batch-size 8 --effective-batch 8 --loss ce \
    --cache data/synth-i3d-frames --provenance-kind demo \
    --description "$DESC. Backbone up to MaxPool3d_4a_3x3 is random (BatchNorm calibrated) and frozen; later stages and head trained." \
    --threads 2
#    b) 64 more training signers (ids 24-87, all in the train split), then the same trunk's later stages
#       go on training from a) on all 80 training signers, with mirrored and recoloured views
$PY -m signdemo.synth make data/synth-more --per-class 40 --seed 0 --signers 64 --first-signer 24 \
    --val-signers 0 --test-signers 0 --workers 2
# the same trunk, views and classes for b) and c): only the starting point, learning rate and epochs differ
MORE_SIGNERS=(data/synth/labels.csv data/synth-more/labels.csv --name demo-i3d --num-frames 16 --eval-frames 16
    --freeze-through MaxPool3d_4a_3x3 --trunk-views 2 --hflip --appearance-jitter --optimizer sgd --bn-momentum 0.1
    --amp off --save-dtype float16 --batch-size 8 --effective-batch 8 --loss ce --cache data/synth-i3d-frames
    --provenance-kind demo --threads 2)
MORE_DESC="$DESC. Backbone up to MaxPool3d_4a_3x3 is random (BatchNorm calibrated) and frozen; later stages and head trained on the 16 training signers of data/synth, then on those and 64 more (data/synth-more)"
$PY -m signdemo.train.i3d "${MORE_SIGNERS[@]}" --out data/demo-i3d-80-signers --warm-start data/demo-i3d-16-signers \
    --lr 0.01 --epochs 12 --description "$MORE_DESC."
#    c) 3 more epochs at a lower learning rate from b); the best-validation epoch is shipped
$PY -m signdemo.train.i3d "${MORE_SIGNERS[@]}" --out data/demo-i3d-stage3 --warm-start data/demo-i3d-80-signers \
    --lr 0.002 --epochs 3 --description "$MORE_DESC, then 3 more epochs at a lower learning rate."
rm -rf weights/demo-i3d && cp -r data/demo-i3d-stage3 weights/demo-i3d
# the resume checkpoints are not shipped
rm -f weights/demo-bigru-attention/checkpoints/last_*.pt weights/demo-i3d/checkpoints/last_*.pt
# 5. held-out accuracy through the full video path, recorded in each bundle's reports/
$PY -m signdemo evaluate data/synth/labels.csv --split test --bigru weights/demo-bigru-attention \
    --models bigru_attention --record
$PY -m signdemo evaluate data/synth/labels.csv --split test --i3d weights/demo-i3d --models i3d --record
# 6. the app's examples: held-out clips and keypoint rows
rm -rf examples && $PY -m signdemo.synth examples data/synth data/synth-kp --out examples
