#!/usr/bin/env bash
# Creates .venv with every extra of the project (operator, agent, trainer, eval, dev) for CPU,
# pinned by constraints.txt. Safe to re-run. Usage: scripts/setup.sh [python-executable]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
# System packages from Debian's archive: bubblewrap sandboxes LLM-written data scripts (the
# agent refuses them without it); chromium runs the dashboard's browser tests (Playwright
# drives it by its path, it downloads no browser).
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v chromium >/dev/null || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  else
    echo "note: install ${missing[*]} (e.g. sudo apt-get install ${missing[*]}): without" \
         "bubblewrap LLM-written data scripts are refused, without chromium the dashboard's" \
         "browser tests fail" >&2
  fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first, the CPU build (a newer torch from the index would pull GBs of CUDA packages).
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" uv
.venv/bin/python -m uv pip install -q --python .venv/bin/python -e '.[dev]' -c constraints.txt \
  ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} $( [ -d /opt/wheels ] && echo --find-links /opt/wheels )
# PyPI's torchvision/torchaudio are CUDA builds that cannot load against CPU torch, yet
# transformers and LLaMA-Factory import them: drop torchvision, keep torchaudio as pure Python.
.venv/bin/python -m uv pip uninstall -q --python .venv/bin/python torchvision || true
rm -f .venv/lib/python3*/site-packages/torchaudio/lib/*.so
.venv/bin/python -c "import torch, transformers, kopf, kubernetes, litellm; print('environment ready:', 'torch', torch.__version__, 'transformers', transformers.__version__)"
