"""Shared pytest fixtures: a session-wide local Kubernetes control plane and test namespaces.

The ``cluster`` fixture starts :class:`harness.cluster.LocalCluster` (etcd, kube-apiserver,
kube-controller-manager with the garbage-collector, namespace and Job controllers) once per test
session and installs every ``crds/*.yaml`` of the repository. It never skips: when the
binaries cannot be had, the fixture errors with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent.llm_server import ScriptedLlmServer
from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.cluster import DEFAULT_CONTROLLERS, LocalCluster

REPO_ROOT = Path(__file__).resolve().parents[1]
CRD_DIR = REPO_ROOT / "crds"


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A running local control plane with the project's CRDs installed."""
    with LocalCluster(controllers=(*DEFAULT_CONTROLLERS, "job")) as local_cluster:
        crds = sorted(CRD_DIR.glob("*.yaml"))
        if crds:
            local_cluster.install_crds(crds)
        yield local_cluster


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace ``t-<8 hex>``, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    with cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        try:
            yield name
        finally:
            try:
                core.delete_namespace(name)
            except ApiException as e:
                if e.status != 404:
                    raise


@pytest.fixture
def llm_server() -> Iterator[ScriptedLlmServer]:
    """A local OpenAI-compatible server answering from a script (``tests/agent/llm_server``)."""
    server = ScriptedLlmServer().start()
    try:
        yield server
    finally:
        server.stop()
