"""A test-kubelet runner that starts the real workers the way their images do.

Each container runs its own ``command`` (``python -m ftoperator.prepare`` / ``ftagent`` /
``fttrainer`` / ``fteval`` / ``ftagent.script_runner``, as :mod:`ftoperator.builders` writes
it) with this interpreter, the environment the kubelet resolved from the Pod (literal values,
Secret references, ...) and its volumes as folders:

- a ``persistentVolumeClaim`` is the claim's folder (``claims``: claim name -> folder, the
  "persistent volume"); an ``emptyDir`` is a folder of the Pod, shared by its containers;
- each container gets a root of its own in which every mount path is a link to the volume's
  folder, or to its ``subPath`` inside it (created as a kubelet does), and nothing else: a
  workspace mounted with ``subPath: <ns>/<name>-<uid8>`` shows that folder only, a dataset
  cache mounted as ``raw`` and ``exclude`` shows no evaluation set;
- the kubelet rewrites the mount paths in argv and environment values (the step request's
  ``paths`` included) to that root (``Command.path_map``).

Linux does not enforce ``readOnly`` or the user of a container here, and the processes see the
rest of this machine: what this proves is that the Jobs' mounts, environment and commands are
complete and consistent, with the real workers; the isolation itself is asserted on the
rendered Pods.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftapi.campaign import Storage
from harness.kubelet import Command, PodSpecView


def _mount_specs(pod: PodSpecView) -> list[dict[str, Any]]:
    for container in (pod.pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == pod.container_name:
            return list(container.get("volumeMounts") or [])
    return []


class RealWorkers:
    """The runner (``TestKubelet(runner=RealWorkers(...))``)."""

    def __init__(
        self,
        root: Path,
        claims: Mapping[str, Path],
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        """Short on purpose: Unix sockets (the LLM gateway) live below it."""
        self.claims = dict(claims)
        self.extra_env = dict(extra_env or {})
        self.commands: list[tuple[str, str, tuple[str, ...]]] = []
        """(pod, container, command) of every container started, in order."""

    @classmethod
    def on_default_claims(
        cls, root: Path, volumes: Path, extra_env: Mapping[str, str] | None = None
    ) -> RealWorkers:
        """Workers whose campaigns use the default claims (``spec.storage``), each a folder
        of ``volumes``: ``models``, ``datasets``, ``workspace``."""
        storage = Storage()
        claims = {
            storage.model_cache.claim_name: volumes / "models",
            storage.dataset_cache.claim_name: volumes / "datasets",
            storage.workspace.claim_name: volumes / "workspace",
        }
        return cls(root, claims, extra_env)

    def _source(self, pod: PodSpecView, volume_name: str) -> Path:
        volume = pod.volumes.get(volume_name)
        if volume is None:
            raise ValueError(f"pod {pod.name}: no volume {volume_name!r}")
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in self.claims:
                raise ValueError(f"pod {pod.name}: claim {claim!r} is not bound to a folder")
            return self.claims[claim]
        if "emptyDir" in volume:
            return self.root / pod.uid[:8] / "volumes" / volume_name
        raise ValueError(f"pod {pod.name}: volume {volume_name!r} is of an unsupported kind")

    def __call__(self, pod: PodSpecView) -> Command:
        container_root = self.root / pod.uid[:8] / pod.container_name
        tops: set[str] = set()
        for mount in _mount_specs(pod):
            source = self._source(pod, mount["name"])
            sub = mount.get("subPath") or ""
            target = source / sub if sub else source
            target.mkdir(parents=True, exist_ok=True)
            path = container_root / mount["mountPath"].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_symlink():
                path.symlink_to(target, target_is_directory=True)
            tops.add(mount["mountPath"].strip("/").split("/")[0])
        argv = list(pod.command or ())
        if not argv:
            raise ValueError(f"pod {pod.name}: container {pod.container_name} has no command")
        if argv[0] == "python":
            argv[0] = sys.executable
        env = {**pod.env, **self.extra_env}
        if "PYTHONPATH" in os.environ:
            env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
        self.commands.append((pod.name, pod.container_name, tuple(pod.command)))
        return Command(
            argv=argv,
            env=env,
            cwd=container_root,
            path_map={f"/{top}": container_root / top for top in sorted(tops)},
        )
