"""`tools/smoke_test.py` against the local stand-in (`tools/stand_in.py`), no AWS.

The stand-in serves each model with its package's real inference code and a model its
package's `steps/train.py` trained here (on the bundled dataset, few trees: fast). The
smoke test's botocore client talks to it over loopback with dummy credentials.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tools import smoke_test, stand_in
from tools.stand_in import Reply, StandIn

ENV = "staging"
DATASETS = {"tabular_classifier": "load_breast_cancer", "diabetes_regressor": "load_diabetes"}
"""Package -> the scikit-learn dataset its SAMPLE_REQUEST comes from."""
PACKAGES = [p for p in DATASETS if (REPO_ROOT / "pipelines" / p / "steps" / "train.py").is_file()]


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever the machine holds, botocore finds only dummy credentials and no profile."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def _train_script(package: str) -> ModuleType:
    path = REPO_ROOT / "pipelines" / package / "steps" / "train.py"
    spec = importlib.util.spec_from_file_location(f"_smoke_train_{package}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Package -> its trained model: the classifier's as model.tar.gz, as SageMaker stores it."""
    import sklearn.datasets

    root = tmp_path_factory.mktemp("smoke_models")
    found = {}
    for package in PACKAGES:
        data = root / package / "data"
        data.mkdir(parents=True)
        getattr(sklearn.datasets, DATASETS[package])(as_frame=True).frame.to_csv(
            data / "all.csv", index=False
        )
        model_dir = root / package / "model"
        argv = ["--train", data, "--validation", data, "--model-dir", model_dir]
        assert _train_script(package).main([*map(str, argv), "--n_estimators", "20"]) == 0
        found[package] = model_dir
    archive = root / "tabular_classifier" / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(found["tabular_classifier"].rglob("*")):
            tar.add(path, arcname=str(path.relative_to(found["tabular_classifier"])))
    found["tabular_classifier"] = archive
    return found


@pytest.fixture(scope="module")
def models(
    artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, stand_in.ServedModel]:
    """Package -> the model answering with its package's inference.py."""
    scratch = tmp_path_factory.mktemp("stand_in")
    return {p: stand_in.ServedModel(p, a, scratch) for p, a in artifacts.items()}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference app's settings with every model pinned in staging."""
    target = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(REPO_ROOT / "config", target, ignore=shutil.ignore_patterns("*.py"))
    pins = {path.stem: {ENV: 3, "prod": None} for path in (target / "models").glob("*.yaml")}
    (target / "promotion.yaml").write_text(yaml.safe_dump({"models": pins}))
    return target


@pytest.fixture(scope="module")
def served(config_dir: Path) -> dict[str, str]:
    """Endpoint name -> package of every model the settings serve in staging."""
    from config.settings import load_settings

    settings = load_settings(config_dir, environments=[ENV])
    return {s.endpoint.name: m.pipeline.package for m, s, _ in settings.served(ENV)}


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Any]], StandIn]]:
    """Start a stand-in for the given endpoints; stopped after the test."""
    started: list[StandIn] = []

    def start(endpoints: dict[str, Any]) -> StandIn:
        started.append(StandIn(endpoints, lifetime=30).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def smoke(server: StandIn, config_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = smoke_test.main(
        ["--env", ENV, "--endpoint-url", server.url, "--config-dir", str(config_dir)]
    )
    return code, capsys.readouterr().out


def test_every_served_model_answers_its_sample_request(served, models, config_dir, serve, capsys):
    assert set(served.values()) == set(PACKAGES)  # both models of the reference app
    server = serve({name: models[package] for name, package in served.items()})

    code, out = smoke(server, config_dir, capsys)

    assert code == 0, out
    for name in served:
        model = name.removesuffix(f"-{ENV}")
        assert f"ok   {model} v3 ({name}): 1 prediction(s)" in out
    assert f"2 of 2 endpoint(s) in {ENV} answered well" in out
    # What botocore sent: SigV4-signed InvokeEndpoint, the package's sample request.
    assert {i.endpoint_name for i in server.invocations} == set(served)
    for invocation in server.invocations:
        package = importlib.import_module(f"pipelines.{served[invocation.endpoint_name]}")
        content_type, body = package.SAMPLE_REQUEST
        assert invocation.content_type == content_type
        assert invocation.accept == "application/json"
        assert invocation.body == body.encode()
        assert invocation.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        assert "/sagemaker/aws4_request" in invocation.headers["Authorization"]


def answering(body: bytes | str, content_type: str = "application/json", status: int = 200):
    def model(_body: bytes, _content_type: str | None, _accept: str | None) -> Reply:
        raw = body.encode() if isinstance(body, str) else body
        return Reply(status, raw, content_type)

    return model


def failing(_body: bytes, _content_type: str | None, _accept: str | None) -> Reply:
    raise RuntimeError("model not loaded")


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (answering(b"\x00garbage"), "answer is not JSON"),
        (answering("<html>ok</html>", "text/html"), "answered content type 'text/html'"),
        (answering('{"result": [1]}'), 'answer has no "predictions" list'),
        (answering('{"predictions": 0.5}'), 'answer has no "predictions" list'),
        (answering("[[0.5]]"), 'answer has no "predictions" list'),
        (
            answering('{"predictions": [1, 2]}'),
            "expected 1 prediction(s), one per request row, got 2",
        ),
        (answering('{"predictions": []}'), "expected 1 prediction(s), one per request row, got 0"),
        (answering('{"predictions": [null]}'), "prediction 1 is not a number or an object"),
        (answering('{"predictions": [NaN]}'), "prediction 1 is not a number or an object"),
        (answering('{"predictions": [{"label": 1, "probability": NaN}]}'), "not a number"),
        (answering('{"predictions": ["x"]}'), "prediction 1 is not a number or an object"),
        (answering('{"predictions": [{}]}'), "prediction 1 is not a number or an object"),
        (answering('{"predictions": [true]}'), "prediction 1 is not a number or an object"),
    ],
    ids=[
        "not-json",
        "not-json-type",
        "no-predictions",
        "predictions-not-a-list",
        "a-bare-list",
        "too-many",
        "none",
        "null-item",
        "nan-item",
        "nan-in-item",
        "string-item",
        "empty-object-item",
        "bool-item",
    ],
)
def test_a_malformed_answer_fails_naming_the_model(
    served, models, config_dir, serve, capsys, model, reason
):
    bad = "tabular-classifier-staging"
    server = serve({n: model if n == bad else models[p] for n, p in served.items()})

    code, out = smoke(server, config_dir, capsys)

    assert code == 1
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert failures[0].startswith(f"FAIL tabular-classifier v3 ({bad}): ")
    assert reason in failures[0], failures[0]
    assert "1 of 2 endpoint(s)" in out  # the other model was still tested


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (
            answering('{"error": "bad input"}', status=400),
            "ModelError: Received client error (400)",
        ),
        (answering("boom", "text/plain", status=500), "ModelError: Received server error (500)"),
        (failing, "RuntimeError: model not loaded"),
        (None, "ValidationError: Endpoint diabetes-regressor-staging of account"),
    ],
    ids=["model-4xx", "model-5xx", "model-raises", "no-such-endpoint"],
)
def test_an_http_error_fails_naming_the_model(
    served, models, config_dir, serve, capsys, model, reason
):
    bad = "diabetes-regressor-staging"
    endpoints = {n: model if n == bad else models[p] for n, p in served.items()}
    server = serve({n: m for n, m in endpoints.items() if m is not None})

    code, out = smoke(server, config_dir, capsys)

    assert code == 1
    (failure,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failure.startswith(f"FAIL diabetes-regressor v3 ({bad}): ")
    assert reason in failure, failure


def test_the_stand_in_answers_a_bad_request_as_sagemaker_does(models, serve):
    """The model's own 400 reaches the caller as a ModelError carrying the original."""
    from botocore.exceptions import ClientError

    server = serve({"clf": models["tabular_classifier"]})
    client = smoke_test.client_for(None, server.url)
    with pytest.raises(ClientError) as raised:
        client.invoke_endpoint(EndpointName="clf", ContentType="text/csv", Body="1,2\n")

    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 400
    assert "each record needs 30 feature values, got 2" in error["OriginalMessage"]


def test_the_stand_in_wants_signed_requests_and_stops_by_itself(models):
    server = StandIn({"clf": models["tabular_classifier"]}, max_requests=1).start()
    request = urllib.request.Request(
        f"{server.url}/endpoints/clf/invocations", data=b"1\n", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 403
    assert server._thread is not None
    server._thread.join(timeout=5)  # one request was its limit
    assert not server._thread.is_alive()


def test_an_environment_serving_nothing_passes(config_dir, tmp_path, serve, capsys):
    empty = tmp_path / "config"
    shutil.copytree(config_dir, empty)
    pins = yaml.safe_load((empty / "promotion.yaml").read_text())
    for versions in pins["models"].values():
        versions[ENV] = None
    (empty / "promotion.yaml").write_text(yaml.safe_dump(pins))

    code, out = smoke(serve({}), empty, capsys)

    assert code == 0
    assert f"{ENV} serves no model yet" in out


def test_bad_settings_exit_2(config_dir, capsys):
    assert smoke_test.main(["--env", "qa", "--config-dir", str(config_dir)]) == 2
    assert "unknown environment(s) ['qa']" in capsys.readouterr().err


def test_a_package_without_sample_request_fails_its_model(monkeypatch):
    monkeypatch.setitem(sys.modules, "pipelines.bare", ModuleType("pipelines.bare"))
    model = SimpleNamespace(name="bare-model", pipeline=SimpleNamespace(package="bare"))
    serving = SimpleNamespace(endpoint=SimpleNamespace(name="bare-model-staging"))
    settings = SimpleNamespace(served=lambda env: [(model, serving, 4)])
    lines: list[str] = []

    failed = smoke_test.run(smoke_test.targets(settings, ENV), client=None, out=lines.append)

    assert failed == 1
    assert lines[0].startswith("FAIL bare-model v4 (bare-model-staging): no sample request")
    assert "pipelines.bare.SAMPLE_REQUEST" in lines[0]


@pytest.mark.parametrize(
    ("content_type", "body", "rows"),
    [
        ("text/csv", "1,2\n3,4\n\n", 2),
        ("text/csv; charset=utf-8", b"1,2", 1),
        ("application/json", '{"instances": [[1], [2], [3]]}', 3),
        ("application/json", "[[1, 2], [3, 4]]", 2),
        ("application/json", "[1, 2, 3]", 1),
        ("application/jsonlines", '{"a": 1}\n{"a": 2}\n', 2),
        ("image/png", b"\x89PNG", 1),
    ],
)
def test_request_rows(content_type, body, rows):
    assert smoke_test.request_rows(content_type, body) == rows


def test_check_answer_returns_the_predictions():
    body = json.dumps({"predictions": [{"label": 1, "probability": 0.9}, 151.2]}).encode()
    predictions = smoke_test.check_answer("application/json; charset=utf-8", body, 2)
    assert predictions[1] == 151.2 and math.isfinite(predictions[0]["probability"])


def test_the_scripts_run_from_the_command_line(artifacts, served, config_dir):
    """As `make smoke` and a developer run them: the stand-in in one process, the test in another."""
    names = served
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "tools" / "stand_in.py"), "--port", "0"]
        + [f"--endpoint={n}={p}:{artifacts[p]}" for n, p in names.items()]
        + ["--lifetime", "60", "--max-requests", str(len(names))],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        url = banner.rsplit(" at ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), banner
        result = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "tools" / "smoke_test.py"),
                "--env",
                ENV,
                "--endpoint-url",
                url,
                "--config-dir",
                str(config_dir),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("ok   ") == len(names)
        assert server.wait(timeout=10) == 0  # served its max-requests, then stopped
    finally:
        server.kill()
