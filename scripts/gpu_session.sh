#!/usr/bin/env bash
# Everything this project needs a GPU for, in one command for a lent GPU machine (see README,
# "GPU session"): train the embedded model on the GPU, evaluate it, and measure the preview
# overhead on the Stable Diffusion 1.5 architecture at 512x512. Results land in $OUT:
#   landscapes.tar.part-* (the model folder), train.log, evaluate.txt, preview_overhead_sd15.txt.
# Try it on a CPU at a tiny size: TRAIN_MINUTES=1 DEVICE=cpu SD15_KIND=tiny SD15_SIZE=64 EVAL_PROMPTS=4 OUT=/tmp/o scripts/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to a folder for the results}
TRAIN_MINUTES=${TRAIN_MINUTES:-7.5}
DEVICE=${DEVICE:-cuda}
SD15_SIZE=${SD15_SIZE:-512}
EVAL_PROMPTS=${EVAL_PROMPTS:-200}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
if [ -d .whl ]; then  # the GPU image lacks diffusers: carried as wheels (device README)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

start=$(date +%s)
python3 main.py train --out "$OUT/landscapes" --minutes "$TRAIN_MINUTES" --device "$DEVICE" --no-resume 2>&1 \
    | tr '\r' '\n' | tee "$OUT/train.log"
echo "train wall seconds: $(( $(date +%s) - start ))" | tee -a "$OUT/train.log"
# Files coming back from the device are capped at 16 MiB each: the tar travels in 15 MiB parts
# (join them with: cat landscapes.tar.part-* | tar -x).
tar -C "$OUT" -c landscapes | split -b 15M - "$OUT/landscapes.tar.part-" && rm -rf "$OUT/landscapes.work"

STUDIO_DEBUG=1 python3 main.py evaluate --model "$OUT/landscapes" --prompts "$EVAL_PROMPTS" 2>&1 | tee "$OUT/evaluate.txt"
python3 benchmarks/preview_overhead.py --random "${SD15_KIND:-sd15}" --device "$DEVICE" --size "$SD15_SIZE" --repeats 3 2>&1 \
    | tee "$OUT/preview_overhead_sd15.txt"
rm -rf "$OUT/landscapes"  # the tar carries it; keep $OUT within the 8-file limit
ls -la "$OUT"
