"""inference.py answering real requests with the trained model, as the serving container would.

The container extracts ``model.tar.gz`` into the model directory, calls ``model_fn`` once
and ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per request; ``invoke`` does the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.tabular_classifier.steps import inference

from . import staged_run
from .local_run import LocalPipelineRun


@pytest.fixture(scope="module")
def model(local_pipeline_run: LocalPipelineRun, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The model as the container loads it: from the extracted model.tar.gz."""
    return staged_run.served_model(
        inference, local_pipeline_run.model_tar, tmp_path_factory.mktemp("opt_ml_model")
    )


@pytest.fixture(scope="module")
def test_rows(local_pipeline_run: LocalPipelineRun) -> pd.DataFrame:
    return pd.read_csv(local_pipeline_run.split("test"))


def invoke(
    model: Any, body: str | bytes, content_type: str | None, accept: str | None = "application/json"
) -> tuple[int, Any]:
    """One request through the handler chain; returns (status, parsed JSON body)."""
    return staged_run.invoke(inference, model, body, content_type, accept)


def features_csv(rows: pd.DataFrame) -> str:
    return rows.drop(columns=["target"]).to_csv(header=False, index=False)


def test_csv_request_gets_labels_and_probabilities(model, test_rows):
    rows = test_rows.head(20)
    status, body = invoke(model, features_csv(rows), "text/csv")

    assert status == 200
    predictions = body["predictions"]
    assert len(predictions) == 20
    assert all(set(p) == {"label", "probability"} for p in predictions)
    assert all(p["label"] in (0, 1) and 0.0 <= p["probability"] <= 1.0 for p in predictions)
    assert all((p["probability"] >= 0.5) == (p["label"] == 1) for p in predictions)
    correct = sum(p["label"] == t for p, t in zip(predictions, rows["target"], strict=True))
    assert correct >= 18


def test_json_request_forms_agree_with_csv(model, test_rows):
    records = test_rows.head(3).drop(columns=["target"]).to_numpy().tolist()
    _, from_csv = invoke(model, features_csv(test_rows.head(3)), "text/csv")

    for body in ({"instances": records}, records):
        status, answer = invoke(model, json.dumps(body).encode(), "application/json; charset=utf-8")
        assert status == 200
        assert answer == from_csv
    status, single = invoke(model, json.dumps(records[0]), "application/json")
    assert status == 200 and single["predictions"] == from_csv["predictions"][:1]


def test_missing_values_are_imputed(model, test_rows):
    record = test_rows.drop(columns=["target"]).iloc[0].tolist()
    as_csv = ",".join("" if i == 3 else repr(v) for i, v in enumerate(record))
    status, body = invoke(model, as_csv + "\n", "text/csv")
    assert status == 200 and len(body["predictions"]) == 1
    record[3] = None
    assert invoke(model, json.dumps([record]), "application/json")[0] == 200


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (
            "1,2,3",
            "application/x-parquet",
            None,
            415,
            "unsupported content type 'application/x-parquet'",
        ),
        ("1,2,3", None, None, 415, "unsupported content type None"),
        ("1,2,3\n", "text/csv", None, 400, "each record needs 30 feature values, got 3"),
        (
            '{"instances": [[1, 2]]}',
            "application/json",
            None,
            400,
            "each record needs 30 feature values, got 2",
        ),
        ("1,2\n1,2,3\n", "text/csv", None, 400, "record 2 has 3 values, record 1 has 2"),
        ("1,abc\n", "text/csv", None, 400, "record 1, value 2: 'abc' is not a number"),
        ("", "text/csv", None, 400, "the request holds no record"),
        ("{not json", "application/json", None, 400, "request body is not valid JSON"),
        ('{"rows": []}', "application/json", None, 400, 'needs an "instances" list'),
        ("[[true, 1]]", "application/json", None, 400, "record 1, value 1: True is not a number"),
        (b"\xff\xfe", "text/csv", None, 400, "not UTF-8"),
        (",".join(["1"] * 30), "text/csv", "text/csv", 406, "cannot answer in 'text/csv'"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_reason(model, body, content_type, accept, status, message):
    got, answer = invoke(model, body, content_type, accept)
    assert got == status
    assert answer["status"] == status
    assert message in answer["error"], answer["error"]


@pytest.mark.parametrize(
    "accept", [None, "", "*/*", "application/json", "text/html, application/*;q=0.8"]
)
def test_json_compatible_accept_headers_are_answered(model, test_rows, accept):
    assert invoke(model, features_csv(test_rows.head(1)), "text/csv", accept)[0] == 200


def test_model_fn_reads_the_trained_model(local_pipeline_run: LocalPipelineRun, tmp_path: Path):
    import shutil

    shutil.copy(local_pipeline_run.model_dir / "model.joblib", tmp_path / "model.joblib")
    model = inference.model_fn(str(tmp_path))
    assert model.n_features_in_ == 30


def test_the_model_archive_serves_itself_alone(local_pipeline_run: LocalPipelineRun):
    """As the serving container imports it: inference.py from the archive's code/, with
    only step_serving.py beside it (nothing from the repository importable)."""
    from pipelines import tabular_classifier

    serve = (
        "import json, sys; model_dir, content_type, body = sys.argv[1:]; "
        "sys.path.insert(0, model_dir + '/code'); import inference; "
        "model = inference.model_fn(model_dir); "
        "answer = inference.output_fn("
        "inference.predict_fn(inference.input_fn(body, content_type), model), None); "
        "print(answer.status, answer.body)"
    )
    content_type, body = tabular_classifier.SAMPLE_REQUEST
    ran = staged_run.run_isolated(serve, str(local_pipeline_run.model_dir), content_type, body)
    assert ran.returncode == 0, ran.stderr
    status, answer = ran.stdout.split(" ", 1)
    assert status == "200"
    assert set(json.loads(answer)["predictions"][0]) == {"label", "probability"}
