"""A throwaway local Kubernetes control plane (envtest style) for the real-cluster tests.

`LocalCluster` runs etcd, kube-apiserver and (by default) kube-controller-manager limited to
the ``garbagecollector`` and ``namespace`` controllers (``controllers=`` picks others, e.g.
``job``: its Pods then need a node, see ``harness.kubelet.TestKubelet``), all on free loopback
ports, with a private PKI made by ``openssl`` in a temporary folder. The binaries come from
``scripts/envtest-assets.sh`` (``KUBEBUILDER_ASSETS`` or a cached build, see
``shared/design/environment.md``, "A real Kubernetes API server")::

    with LocalCluster() as cluster:
        cluster.install_crds(["crds/finetunecampaigns.ftagent.dev.yaml"])
        api = cluster.api_client()

The API server enforces RBAC; the kubeconfig written by the harness authenticates with an
admin client certificate (``O=system:masters``). Every process is stopped (SIGTERM, then
SIGKILL) and the temporary folder removed on exit, also when start-up fails midway, at
interpreter exit (atexit) and, on Linux, when the test process dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS_SCRIPT = REPO_ROOT / "scripts" / "envtest-assets.sh"

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "ft-envtest-admin"
DEFAULT_CONTROLLERS: tuple[str, ...] = ("garbagecollector", "namespace")
"""kube-controller-manager ``--controllers`` by default; add ``"job"`` to run Jobs' Pods."""

_PR_SET_PDEATHSIG = 1
_LIBC: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(None, use_errno=True)

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ft-envtest
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class ClusterError(RuntimeError):
    """The local control plane could not be provided, started or used."""


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes] = field(repr=False)


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


class LocalCluster:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback; a context manager.

    Attributes available once started: ``kubeconfig`` (path of an admin kubeconfig),
    ``server`` (``https://127.0.0.1:<port>``), ``ca_file``, ``token_auth_file``,
    ``admin_token`` (a bearer token of a ``system:masters`` user in that file),
    ``assets_dir`` and ``workdir``.
    """

    def __init__(
        self,
        *,
        controller_manager: bool = True,
        start_timeout: float = 90.0,
        stop_timeout: float = 10.0,
        assets_dir: str | os.PathLike[str] | None = None,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
    ) -> None:
        if isinstance(controllers, str):
            raise TypeError("controllers must be a sequence of controller names, not a string")
        if not controllers:
            raise ValueError("controllers must name at least one controller")
        self.controller_manager = controller_manager
        self.controllers: tuple[str, ...] = tuple(controllers)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._assets_override = Path(assets_dir) if assets_dir is not None else None
        self._procs: list[_Proc] = []
        self._dir: Path | None = None
        self._started = False
        self._stopped = False
        self.assets_dir: Path | None = None
        self.server = ""
        self.admin_token = secrets.token_hex(16)
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Provide the binaries, make the PKI, start the processes and wait until ready."""
        if self._started:
            raise ClusterError("LocalCluster can be started only once")
        self._started = True
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self.assets_dir = self._find_assets()
            self._dir = Path(tempfile.mkdtemp(prefix="ft-envtest-"))
            self._make_pki()
            self._write_token_file()
            etcd_client, etcd_peer, api_port, kcm_port = _free_ports(4)
            self.server = f"https://127.0.0.1:{api_port}"
            self._write_kubeconfig()
            self._start_etcd(etcd_client, etcd_peer)
            self._wait_etcd(etcd_client)
            self._start_apiserver(api_port, etcd_client)
            self._wait_apiserver()
            if self.controller_manager:
                self._start_controller_manager(kcm_port)
                self._wait_controller_manager(kcm_port)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        """Terminate every process (SIGTERM, SIGKILL after ``stop_timeout``); remove files."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        procs = list(reversed(self._procs))
        for p in procs:
            if p.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for p in procs:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.kill()
                p.popen.wait()
            p.log_file.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    # ------------------------------------------------------------------ public helpers

    @property
    def workdir(self) -> Path:
        if self._dir is None:
            raise ClusterError("LocalCluster is not started")
        return self._dir

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def token_auth_file(self) -> Path:
        return self.workdir / "pki" / "tokens.csv"

    def api_client(self) -> client.ApiClient:
        """A new ``kubernetes.client.ApiClient`` for the admin kubeconfig (close it after use)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def logs_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of every process log, for diagnostics."""
        parts: list[str] = []
        for p in self._procs:
            parts.append(f"==> {p.name} ({p.log_path.name}) <==")
            parts.extend(_tail(p.log_path, lines))
        return "\n".join(parts)

    def install_crds(
        self, paths: Iterable[str | os.PathLike[str]], timeout: float = 60.0
    ) -> list[str]:
        """Create or replace the CRDs in the YAML files; wait until each is Established.

        Returns the names of the CRDs installed.
        """
        docs: list[dict[str, Any]] = []
        for path in paths:
            with open(path, encoding="utf-8") as fh:
                for doc in yaml.safe_load_all(fh):
                    if not doc:
                        continue
                    if doc.get("kind") != "CustomResourceDefinition":
                        kind = doc.get("kind")
                        raise ClusterError(f"{path}: not a CustomResourceDefinition: {kind}")
                    docs.append(doc)
        names: list[str] = []
        with self.api_client() as api_client:
            ext = client.ApiextensionsV1Api(api_client)
            for doc in docs:
                name = doc["metadata"]["name"]
                try:
                    ext.create_custom_resource_definition(doc, _preload_content=False)
                except ApiException as e:
                    if e.status != 409:
                        raise
                    current = json.loads(
                        ext.read_custom_resource_definition(name, _preload_content=False).data
                    )
                    body = {**doc, "metadata": {**doc["metadata"]}}
                    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    ext.replace_custom_resource_definition(name, body, _preload_content=False)
                names.append(name)
            for name in names:
                self._wait_crd_established(ext, name, timeout)
        return names

    # ------------------------------------------------------------------ internals

    def _wait_crd_established(
        self, ext: client.ApiextensionsV1Api, name: str, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        conditions: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            crd = json.loads(ext.read_custom_resource_definition(name, _preload_content=False).data)
            conditions = crd.get("status", {}).get("conditions") or []
            by_type = {c.get("type"): c for c in conditions}
            names_accepted = by_type.get("NamesAccepted", {})
            if names_accepted.get("status") == "False":
                raise ClusterError(f"CRD {name}: names not accepted: {names_accepted}")
            if by_type.get("Established", {}).get("status") == "True":
                return
            time.sleep(0.1)
        raise ClusterError(f"CRD {name} not Established within {timeout:.0f} s: {conditions}")

    def _find_assets(self) -> Path:
        if self._assets_override is not None:
            folder = self._assets_override
        else:
            res = subprocess.run(
                ["bash", str(ASSETS_SCRIPT)],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if res.returncode != 0:
                raise ClusterError(
                    f"{ASSETS_SCRIPT} failed (exit {res.returncode}); last lines:\n"
                    + "\n".join((res.stdout + res.stderr).splitlines()[-30:])
                )
            lines = res.stdout.strip().splitlines()
            if not lines:
                raise ClusterError(f"{ASSETS_SCRIPT} printed no folder")
            folder = Path(lines[-1].strip())
        wanted = ["etcd", "kube-apiserver"]
        if self.controller_manager:
            wanted.append("kube-controller-manager")
        missing = [b for b in wanted if not os.access(folder / b, os.X_OK)]
        if missing:
            raise ClusterError(f"envtest assets folder {folder} lacks {', '.join(missing)}")
        return folder

    def _openssl(self, *args: str) -> None:
        res = subprocess.run(
            ["openssl", *args], cwd=self.workdir / "pki", capture_output=True, text=True
        )
        if res.returncode != 0:
            raise ClusterError(f"openssl {' '.join(args)} failed:\n{res.stderr}")

    def _make_pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir()
        (pki / "openssl.cnf").write_text(_OPENSSL_CNF)
        days = "3650"
        for key in ("ca.key", "server.key", "admin.key", "sa.key"):
            self._openssl(
                "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key
            )
        self._openssl(
            "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=ft-envtest-ca",
            "-days", days, "-config", "openssl.cnf", "-extensions", "v3_ca", "-out", "ca.crt",
        )  # fmt: skip
        for name, subject, ext in (
            ("server", "/CN=kube-apiserver", "v3_server"),
            ("admin", f"/O=system:masters/CN={ADMIN_USER}", "v3_client"),
        ):
            self._openssl(
                "req", "-new", "-key", f"{name}.key", "-subj", subject,
                "-config", "openssl.cnf", "-out", f"{name}.csr",
            )  # fmt: skip
            self._openssl(
                "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(secrets.randbits(63)), "-days", days,
                "-extfile", "openssl.cnf", "-extensions", ext, "-out", f"{name}.crt",
            )  # fmt: skip
        self._openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")

    def _write_token_file(self) -> None:
        # token,user,uid,"group1,group2" -- read once by kube-apiserver at start-up.
        self.token_auth_file.write_text(
            f'{self.admin_token},{ADMIN_USER}-token,{ADMIN_USER}-token,"system:masters"\n'
        )

    def _write_kubeconfig(self) -> None:
        pki = self.workdir / "pki"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {
                        "client-certificate": str(pki / "admin.crt"),
                        "client-key": str(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "envtest", "context": {"cluster": "envtest", "user": ADMIN_USER}}
            ],
            "current-context": "envtest",
        }
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))

    def _spawn(self, name: str, args: list[str]) -> _Proc:
        log_path = self.workdir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        no_proxy = ",".join(x for x in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if x)
        env["NO_PROXY"] = env["no_proxy"] = no_proxy
        on_main_thread = threading.current_thread() is threading.main_thread()
        try:
            popen = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                # PDEATHSIG fires when the spawning *thread* exits: only use it from main.
                preexec_fn=_set_pdeathsig if (_LIBC is not None and on_main_thread) else None,
            )
        except BaseException:
            log_file.close()
            raise
        proc = _Proc(name, popen, log_path, log_file)
        self._procs.append(proc)
        return proc

    def _bin(self, name: str) -> str:
        assert self.assets_dir is not None
        return str(self.assets_dir / name)

    def _start_etcd(self, client_port: int, peer_port: int) -> None:
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                self._bin("etcd"),
                "--name=envtest",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=envtest={peer_url}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-level=warn",
            ],
        )

    def restart_apiserver(self, down_seconds: float = 1.0) -> None:
        """Kill kube-apiserver (SIGKILL) and start it again on the same port and etcd: the
        cluster's data is kept, every client loses its connections and watches."""
        old = next(p for p in self._procs if p.name == "kube-apiserver")
        old.popen.kill()
        old.popen.wait()
        old.log_file.close()
        self._procs.remove(old)
        time.sleep(down_seconds)
        self._start_apiserver(self._api_port, self._etcd_port)
        self._wait_apiserver()

    def _start_apiserver(self, port: int, etcd_port: int) -> None:
        self._api_port, self._etcd_port = port, etcd_port
        pki = self.workdir / "pki"
        self._spawn(
            "kube-apiserver",
            [
                self._bin("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                "--insecure-port=0",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'server.crt'}",
                f"--tls-private-key-file={pki / 'server.key'}",
                f"--client-ca-file={self.ca_file}",
                f"--token-auth-file={self.token_auth_file}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                # 127.0.0.1 is not a valid Endpoints address: do not reconcile `kubernetes`.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=0",
            ],
        )

    def _start_controller_manager(self, port: int) -> None:
        kubeconfig = str(self.kubeconfig)
        self._spawn(
            "kube-controller-manager",
            [
                self._bin("kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--controllers={','.join(self.controllers)}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--port=0",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--profiling=false",
                "--v=0",
            ],
        )

    def _check_alive(self) -> None:
        for p in self._procs:
            rc = p.popen.poll()
            if rc is not None:
                raise ClusterError(
                    f"{p.name} exited with code {rc} during start-up\n{self.logs_tail(40)}"
                )

    def _poll(self, what: str, probe: Callable[[], bool]) -> None:
        """Call ``probe()`` until it returns True; fail on a dead process or the timeout."""
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while True:
            self._check_alive()
            try:
                if probe():
                    return
            except (OSError, http.client.HTTPException, ValueError) as e:
                last_error = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what} not ready within {self.start_timeout:g} s"
                    f" (last error: {last_error or 'none'})\n{self.logs_tail(40)}"
                )
            time.sleep(0.1)

    @staticmethod
    def _get(url: str, context: ssl.SSLContext | None) -> tuple[int, str]:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(url, timeout=3) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def _wait_etcd(self, port: int) -> None:
        def probe() -> bool:
            status, body = self._get(f"http://127.0.0.1:{port}/health", None)
            return status == 200 and json.loads(body).get("health") == "true"

        self._poll("etcd", probe)

    def _admin_ssl_context(self) -> ssl.SSLContext:
        pki = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _wait_apiserver(self) -> None:
        ctx = self._admin_ssl_context()

        def probe() -> bool:
            status, body = self._get(f"{self.server}/readyz", ctx)
            if status != 200 or body.strip() != "ok":
                return False
            status, _ = self._get(f"{self.server}/api/v1/namespaces/default", ctx)
            return status == 200

        self._poll("kube-apiserver (/readyz and namespace default)", probe)

    def _wait_controller_manager(self, port: int) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # self-signed serving cert made by the process

        def probe() -> bool:
            status, body = self._get(f"https://127.0.0.1:{port}/healthz", ctx)
            return status == 200 and body.strip() == "ok"

        self._poll("kube-controller-manager (/healthz)", probe)
