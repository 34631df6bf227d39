"""The local control plane itself: API server version, namespace lifecycle, garbage collection."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.cluster import LocalCluster

pytestmark = pytest.mark.cluster


@pytest.fixture
def core(cluster: LocalCluster) -> Iterator[client.CoreV1Api]:
    with cluster.api_client() as api_client:
        yield client.CoreV1Api(api_client)


def _gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def _wait_gone(read: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not _gone(read):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still exists after {timeout:.0f} s")
        time.sleep(0.2)


def test_api_server_answers_with_version_1_20(cluster: LocalCluster) -> None:
    with cluster.api_client() as api_client:
        version = client.VersionApi(api_client).get_code()
    # major/minor are empty in the Debian-source build; gitVersion is the reliable field.
    assert version.git_version.startswith("v1.20.")
    assert cluster.server.startswith("https://127.0.0.1:")
    assert cluster.kubeconfig.is_file()
    assert cluster.ca_file.is_file()


def test_namespace_is_created_and_deleted(core: client.CoreV1Api) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    assert core.read_namespace(name).status.phase == "Active"
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"), data={"a": "b"})
    )
    core.delete_namespace(name)
    # Only the namespace controller (kube-controller-manager) empties and finalizes it.
    _wait_gone(lambda: core.read_namespace(name), 60, f"namespace {name}")


def test_garbage_collector_deletes_dependents(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[ref])),
    )
    core.delete_namespaced_config_map("owner", namespace)
    _wait_gone(
        lambda: core.read_namespaced_config_map("dependent", namespace), 30, "dependent ConfigMap"
    )
