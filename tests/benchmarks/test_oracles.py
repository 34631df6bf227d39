"""TDC property oracles for chemcotbench_mol_opt: prepare fetches the model files into the
model cache over HTTP (here a local server on 127.0.0.1 serving stand-in models), the evaluator
scores molecules with them exactly as the stand-in model itself predicts."""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fixtures.stand_in_oracle import FILES, expected_score, stand_in_bytes

from fteval import oracles as evaluator
from ftoperator import oracles

MOLECULES = (
    "CCO",
    "c1ccncc1",
    "CC(=O)Nc1ccc(O)cc1",
    "CCCCCC",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "O=C(O)c1ccccc1OC(C)=O",
)


@dataclass
class Served:
    files: dict[str, bytes]
    cut_first_after: int | None = None  # cut the first full answer after this many bytes
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            byte_range = self.headers.get("Range")
            served.requests.append((self.path, byte_range))
            body = served.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if byte_range:
                start = int(byte_range.removeprefix("bytes=").rstrip("-"))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Connection", "close")
            self.end_headers()
            if served.cut_first_after is not None and not byte_range:
                cut, served.cut_first_after = served.cut_first_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def serve() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(files: dict[str, bytes], **kwargs: object) -> Served:
        served = Served(files=dict(files), **kwargs)  # type: ignore[arg-type]
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        served.url = f"http://127.0.0.1:{server.server_address[1]}/mirror"
        served.files = {f"mirror/{k}": v for k, v in files.items()}
        return served

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def stand_ins() -> dict[str, bytes]:
    return {name: stand_in_bytes(name) for name in FILES}


def _by_file(stand_ins: dict[str, bytes]) -> dict[str, bytes]:
    return {FILES[name]: data for name, data in stand_ins.items()}


def test_fetch_then_score_equals_the_models_own_prediction(serve, stand_ins, tmp_path):
    served = serve(_by_file(stand_ins))
    models = tmp_path / "models"
    got = oracles.fetch_oracles("chemcotbench_mol_opt", models, base_url=served.url)
    assert got == ["drd2_current.pkl", "jnk3_current.pkl", "gsk3b_current.pkl"]
    assert sorted(p.name for p in (models / "oracles").iterdir()) == sorted(got)
    for name, data in stand_ins.items():
        assert (models / "oracles" / FILES[name]).read_bytes() == data
        model = pickle.loads(data)
        values = []
        for smiles in MOLECULES:
            want = expected_score(model, name, smiles)
            assert evaluator.score(name, smiles, models) == pytest.approx(want, abs=1e-12)
            values.append(want)
        assert len(set(values)) > 1, f"stand-in {name} answers one value for all molecules"
    # the fork's subtask names map to the TDC oracles (PROP_NAME_MAP)
    model = pickle.loads(stand_ins["jnk3"])
    assert evaluator.score("jnk", "c1ccncc1", models) == expected_score(model, "jnk3", "c1ccncc1")
    # an unparsable SMILES scores 0.0, as PyTDC's Oracle answers
    assert evaluator.score("gsk3b", "C1CC(", models) == 0.0
    assert evaluator.score("drd", "not a smiles", models) == 0.0
    # everything present: nothing is downloaded again
    before = len(served.requests)
    assert oracles.fetch_oracles("chemcotbench_mol_opt", models, base_url=served.url) == []
    assert len(served.requests) == before


def test_environment_variables_pick_the_mirror_and_the_folder(
    serve, stand_ins, tmp_path, monkeypatch
):
    served = serve(_by_file(stand_ins))
    monkeypatch.setenv(oracles.BASE_URL_ENV, served.url)
    oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path)
    assert {path for path, _ in served.requests} == {f"/mirror/{f}" for f in FILES.values()}
    monkeypatch.setenv(evaluator.ORACLE_DIR_ENV, str(tmp_path / "oracles"))
    model = pickle.loads(stand_ins["drd2"])
    assert evaluator.score("drd2", "CCO") == pytest.approx(expected_score(model, "drd2", "CCO"))


def test_other_benchmarks_need_no_oracle(tmp_path):
    assert oracles.fetch_oracles("chemcotbench_mol_edit", tmp_path / "m") == []
    assert not (tmp_path / "m").exists()


def test_default_source_is_pytdc_dataverse_file(monkeypatch):
    monkeypatch.delenv(oracles.BASE_URL_ENV, raising=False)
    # PyTDC 1.1.15 tdc/metadata.py oracle2id; tdc/utils/load.py server_path
    base = "https://dataverse.harvard.edu/api/access/datafile/"
    assert oracles.source_url("drd2_current.pkl") == base + "6413411"
    assert oracles.source_url("jnk3_current.pkl") == base + "6413420"
    assert oracles.source_url("gsk3b_current.pkl") == base + "6413412"
    assert oracles.source_url("jnk3_current.pkl", "http://m/x/") == "http://m/x/jnk3_current.pkl"


def test_missing_file_on_the_server_names_file_url_and_remedy(serve, stand_ins, tmp_path):
    files = _by_file(stand_ins)
    del files["jnk3_current.pkl"]
    served = serve(files)
    with pytest.raises(oracles.OracleUnavailable) as caught:
        oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path, base_url=served.url)
    message = str(caught.value)
    assert "oracle file jnk3_current.pkl" in message
    assert f"{served.url}/jnk3_current.pkl answered HTTP 404" in message
    assert f"copy jnk3_current.pkl into {tmp_path / 'oracles'}/" in message
    assert oracles.BASE_URL_ENV in message
    assert caught.value.unreachable is False
    assert not (tmp_path / "oracles" / "jnk3_current.pkl").exists()
    assert not (tmp_path / "oracles" / "jnk3_current.pkl.part").exists()


def test_unreachable_server_says_so(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(oracles.time, "sleep", lambda s: None)
    url = f"http://127.0.0.1:{port}/m"
    with pytest.raises(oracles.OracleUnavailable) as caught:
        oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path, base_url=url)
    message = str(caught.value)
    assert message.startswith("oracle file drd2_current.pkl (TDC oracle 'drd2') is missing")
    assert f"{url}/drd2_current.pkl could not be reached after {oracles.ATTEMPTS}" in message
    assert "Provide it: copy drd2_current.pkl into" in message
    assert caught.value.unreachable is True


def test_a_cut_off_download_is_resumed(serve, stand_ins, tmp_path):
    data = stand_ins["drd2"]
    served = serve(_by_file(stand_ins), cut_first_after=len(data) // 3)
    oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path, base_url=served.url)
    drd2 = [r for r in served.requests if r[0].endswith("drd2_current.pkl")]
    assert drd2 == [
        ("/mirror/drd2_current.pkl", None),
        ("/mirror/drd2_current.pkl", f"bytes={len(data) // 3}-"),
    ]
    assert (tmp_path / "oracles" / "drd2_current.pkl").read_bytes() == data


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>Dataverse is under maintenance</html>", "not a complete pickle"),
        ("truncated", "not a complete pickle"),
        ("unfitted", "not fitted"),
        ("old_trees", "pickled by scikit-learn 1.2.2"),
    ],
)
def test_a_file_that_is_not_the_model_is_refused(serve, stand_ins, tmp_path, body, reason):
    if body == "truncated":
        body = stand_ins["drd2"][:-100]
    elif body == "unfitted":
        from sklearn.svm import SVC

        body = pickle.dumps(SVC(probability=True))
    elif body == "old_trees":  # the tree node format changed in scikit-learn 1.3
        import sklearn

        version = sklearn.__version__.encode()
        assert len(version) == 5 and stand_ins["gsk3b"].count(version) >= 1
        body = stand_ins["gsk3b"].replace(version, b"1.2.2")
    files = _by_file(stand_ins)
    files["drd2_current.pkl"] = body
    served = serve(files)
    with pytest.raises(oracles.OracleUnavailable) as caught:
        oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path, base_url=served.url)
    message = str(caught.value)
    assert message.startswith("oracle file drd2_current.pkl (TDC oracle 'drd2') downloaded from")
    assert reason in message
    assert list((tmp_path / "oracles").iterdir()) == []


def test_a_bad_file_in_the_cache_is_reported_not_replaced(serve, stand_ins, tmp_path):
    folder = tmp_path / "oracles"
    folder.mkdir()
    (folder / "gsk3b_current.pkl").write_bytes(b"not a pickle")
    served = serve(_by_file(stand_ins))
    with pytest.raises(oracles.OracleUnavailable, match="in the model cache but not usable"):
        oracles.fetch_oracles("chemcotbench_mol_opt", tmp_path, base_url=served.url)
    assert (folder / "gsk3b_current.pkl").read_bytes() == b"not a pickle"


def test_evaluator_fails_loudly_without_the_model(tmp_path, monkeypatch):
    with pytest.raises(evaluator.OracleError, match=r"drd2_current\.pkl is missing"):
        evaluator.score("drd2", "CCO", tmp_path)
    with pytest.raises(evaluator.OracleError, match="no model oracle for property 'logp'"):
        evaluator.score("logp", "CCO", tmp_path)
    monkeypatch.delenv(evaluator.ORACLE_DIR_ENV, raising=False)
    with pytest.raises(evaluator.OracleError, match=evaluator.ORACLE_DIR_ENV):
        evaluator.score("jnk3", "CCO")
    (tmp_path / "oracles").mkdir()
    (tmp_path / "oracles" / "jnk3_current.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(evaluator.OracleError, match="no predict_proba"):
        evaluator.score("jnk3", "CCO", tmp_path)


def test_evaluator_loads_each_model_once(stand_ins, tmp_path, monkeypatch):
    (tmp_path / "oracles").mkdir()
    (tmp_path / "oracles" / "gsk3b_current.pkl").write_bytes(stand_ins["gsk3b"])
    loads: list[object] = []
    real = evaluator.pickle.load
    monkeypatch.setattr(evaluator.pickle, "load", lambda f: loads.append(f) or real(f))
    for smiles in MOLECULES:
        evaluator.score("gsk3b", smiles, tmp_path)
    assert len(loads) == 1
