#!/usr/bin/env bash
# The project's test command: static checks, then every test (unit, real kube-apiserver,
# real LLaMA-Factory / OpenCompass on a tiny model). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache >/dev/null
.venv/bin/ftctl crds --check
exec .venv/bin/python -m pytest "$@"
