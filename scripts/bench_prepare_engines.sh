#!/usr/bin/env bash
# Clips per second of keypoint preparation, local engine against Ray with 1 and 2 workers, on the
# real WLASL clips of ../shared/data/wlasl_clips (BENCHMARKS.md). Each run starts from an empty
# output folder; the summary lines (`landmarks: N clips in S s (R clips/s) on ...`) and the wall
# time of the whole command (Ray's start-up included) are printed at the end.
#     bash scripts/bench_prepare_engines.sh [OUT_DIR] [CONFIG ...]      CONFIG: local:N | ray:N
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/signdemo-bench-prepare}
shift || true
if [ $# -gt 0 ]; then configs=("$@"); else configs=(local:1 ray:1 local:2 ray:2); fi
clips=$(cd ../shared/data/wlasl_clips && pwd)
mkdir -p "$out"
{
  echo "file,label,signer,split"
  tail -n +2 "$clips/labels.csv" | while IFS=, read -r file _ gloss _; do echo "$clips/$file,$gloss,,train"; done
} > "$out/labels.csv"
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
for config in "${configs[@]}"; do
  engine=${config%%:*} workers=${config##*:}
  rm -rf "$out/$engine-$workers"
  start=$(date +%s.%N)
  .venv/bin/python -m signdemo.train.prepare "$out/labels.csv" --out "$out/$engine-$workers" \
    --engine "$engine" --workers "$workers" > "$out/$engine-$workers.log" 2>&1
  end=$(date +%s.%N)
  summary=$(grep -o "landmarks: [0-9]* clips in .*" "$out/$engine-$workers.log" | tail -1)
  printf '%-8s wall %6.1f s | %s\n' "$config" "$(awk "BEGIN { print $end - $start }")" "$summary" | tee -a "$out/results.txt"
done
for config in "${configs[@]:1}"; do  # the same bytes whichever engine made them
  cmp -s "$out/${configs[0]/:/-}/features.npy" "$out/${config/:/-}/features.npy" \
    && cmp -s "$out/${configs[0]/:/-}/manifest.csv" "$out/${config/:/-}/manifest.csv" \
    && echo "$config: features.npy and manifest.csv identical to ${configs[0]}" \
    || echo "$config: output DIFFERS from ${configs[0]}"
done
