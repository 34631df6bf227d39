#!/usr/bin/env bash
# The fault suite alone (it also runs in scripts/test.sh): campaigns on the real kube-apiserver
# under the real operator, each disturbed by one fault, compared with an undisturbed run. Ends
# with "faults injected N, campaigns completed N, duplicate Jobs 0, lost results 0".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/envtest-assets.sh >/dev/null
exec .venv/bin/python -m pytest -q tests/faults "$@"
