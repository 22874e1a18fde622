#!/usr/bin/env bash
# GPU smoke test: set up, train two GRPO steps in bf16 with vLLM colocated in the trainer process,
# evaluate the result with the vLLM backend, and print what ran. Any failure stops it with a message.
#
#   scripts/gpu_smoke.sh [MODEL]      MODEL: 'smollm2' (default, offline once set up), a hub id such as
#                                     Qwen/Qwen2.5-0.5B-Instruct, or a local checkpoint directory
#   SKIP_SETUP=1   use the existing .venv as it is      OUT=DIR   where runs go (default runs/gpu-smoke)
#
# Needs one CUDA GPU with bf16 (Ampere or newer) and the `gpu` extra (vllm), which scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

model="${1:-smollm2}"
out="${OUT:-runs/gpu-smoke}"
task=procedural-draws
py=.venv/bin/python
step() { echo; echo "== gpu_smoke: $*"; }
fail() { echo "gpu_smoke: FAILED: $*" >&2; exit 1; }
trap 'fail "command on line $LINENO exited with status $?"' ERR

step "GPU"
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this script needs a CUDA machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  step "setup (scripts/setup.sh gpu)"
  scripts/setup.sh gpu
fi
[ -x "$py" ] || fail "$py missing: run scripts/setup.sh gpu first (or unset SKIP_SETUP)"

step "versions"
"$py" - <<'EOF' || fail "the environment cannot run this smoke test (see above)"
import importlib.metadata as md, torch
assert torch.cuda.is_available(), "torch sees no CUDA GPU"
assert torch.cuda.is_bf16_supported(), "this GPU has no bf16"
import vllm  # noqa: F401  (the gpu extra)
print("torch", torch.__version__, "cuda", torch.version.cuda, "|", torch.cuda.get_device_name(0))
print(", ".join(f"{p} {md.version(p)}" for p in ("transformers", "trl", "vllm", "peft", "multianswer")))
EOF

rm -rf "$out" && mkdir -p "$(dirname "$out")"
step "train: 2 GRPO steps of $model on $task, bf16, vLLM colocate"
# Full fine-tuning in bf16; vLLM runs inside the trainer process on a share of the GPU's memory.
"$py" -m multianswer.cli train task="$task" model="$model" method=multi-rlcr k=3 dtype=bf16 use_lora=false \
  max_steps=2 num_generations=4 per_device_train_batch_size=8 gradient_accumulation_steps=1 \
  max_completion_length=128 learning_rate=1e-6 bf16=true use_cpu=false \
  use_vllm=true vllm_mode=colocate vllm_gpu_memory_utilization=0.3 vllm_max_model_length=2048 \
  logging_steps=1 save_steps=1000 report_to=[] output_dir="$out/train" 2>&1 | tee "$out.train.log"
[ -f "$out/train/final/config.json" ] || fail "training wrote no final model in $out/train/final"
grep -q "use_vllm: true" "$out/train/config.yaml" || fail "the run's config.yaml does not say use_vllm: true"
grep -qi "vllm" "$out.train.log" || fail "no vLLM engine output in the training log: vLLM did not run"
grep -q "^trained 2 steps" "$out.train.log" || fail "the training log does not say 'trained 2 steps'"

step "eval: the trained model with the vLLM backend"
"$py" -m multianswer.cli eval --model "$out/train/final" --task "$task" --out "$out/eval" --backend vllm \
  --dtype bf16 --limit 32 --max-new-tokens 128 --no-report 2>&1 | tee "$out.eval.log"
rows=$(wc -l < "$out/eval/results.jsonl")
[ "$rows" -ge 32 ] || fail "eval wrote $rows result rows, expected 32"
# --backend vllm is an error, not a fallback, when vLLM or the GPU is missing; check that its engine ran
grep -qi "vllm" "$out.eval.log" || fail "no vLLM engine output in the eval log"

step "what ran"
echo "model:      $model, bf16, full fine-tuning"
echo "training:   2 GRPO steps (8 completions each), generation by vLLM colocated (use_vllm, vllm_mode=colocate)"
echo "evaluation: $rows questions of $task, backend vllm, model $out/train/final"
echo "logs:       $out.train.log, $out.eval.log"
echo "gpu_smoke: OK"
