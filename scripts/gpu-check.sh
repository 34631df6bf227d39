#!/usr/bin/env bash
# Run LoRA, full and QLoRA training and vLLM evaluation through the real fttrainer/fteval
# workers on this machine's NVIDIA GPU, offline, and print one table (docs/gpu-check.md).
# --dry-run: the same plan on CPU with a tiny model (CI runs it). Logic: scripts/gpu_check.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$here/../.venv/bin/python"
[ -x "$python" ] || python="python3"
exec "$python" "$here/gpu_check.py" "$@"
