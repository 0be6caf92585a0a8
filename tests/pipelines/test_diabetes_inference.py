"""The diabetes regressor's inference.py answering requests with the trained model, as the
serving container would (``model_fn`` once, then ``input_fn`` -> ``predict_fn`` ->
``output_fn`` per request)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from pipelines import diabetes_regressor
from pipelines.diabetes_regressor import pipeline as diabetes
from pipelines.diabetes_regressor.steps import inference

from . import diabetes_support, staged_run
from .diabetes_support import DiabetesRun

pytestmark = pytest.mark.xdist_group("diabetes-regressor")
diabetes_run_started = diabetes_support.diabetes_run_started
diabetes_run = diabetes_support.diabetes_run


@pytest.fixture(scope="module")
def model(diabetes_run: DiabetesRun, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The model as the container loads it: from the extracted model.tar.gz."""
    return staged_run.served_model(
        inference, diabetes_run.model_tar, tmp_path_factory.mktemp("opt_ml_model")
    )


@pytest.fixture(scope="module")
def test_rows(diabetes_run: DiabetesRun) -> pd.DataFrame:
    return pd.read_csv(diabetes_run.split("test"))


def invoke(
    model: Any, body: str | bytes, content_type: str | None, accept: str | None = None
) -> tuple[int, Any]:
    """One request through the handler chain; returns (status, parsed JSON body)."""
    return staged_run.invoke(inference, model, body, content_type, accept)


def test_the_sample_request_is_answered_with_one_number(model, diabetes_run: DiabetesRun):
    content_type, body = diabetes_regressor.SAMPLE_REQUEST
    status, answer = invoke(model, body, content_type)

    assert status == 200
    (prediction,) = answer["predictions"]
    assert isinstance(prediction, float)
    # The sample is the dataset's first patient, features in request order.
    first = pd.read_csv(diabetes_run.raw_csv)[list(diabetes.FEATURES)].head(1)
    assert [float(v) for v in body.split(",")] == first.iloc[0].tolist()
    assert prediction == pytest.approx(float(model.predict(first)[0]))
    assert 25 <= prediction <= 346  # within the target's range


def test_csv_and_json_requests_get_one_prediction_per_row(model, test_rows):
    rows = test_rows.head(5).drop(columns=["target"])
    status, from_csv = invoke(model, rows.to_csv(header=False, index=False), "text/csv")
    assert status == 200
    assert from_csv["predictions"] == pytest.approx(model.predict(rows).tolist())

    records = rows.to_numpy().tolist()
    for body in ({"instances": records}, records):
        status, answer = invoke(model, json.dumps(body), "application/json; charset=utf-8")
        assert (status, answer) == (200, from_csv)
    record = records[0]
    record[2] = None  # a missing value is imputed
    assert invoke(model, json.dumps(record), "application/json")[0] == 200


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        ("1,2", "application/x-parquet", None, 415, "unsupported content type"),
        ("1,2,3\n", "text/csv", None, 400, "each record needs 10 feature values, got 3"),
        ("1,abc\n", "text/csv", None, 400, "record 1, value 2: 'abc' is not a number"),
        ("{not json", "application/json", None, 400, "request body is not valid JSON"),
        ("", "text/csv", None, 400, "the request holds no record"),
        (",".join(["1"] * 10), "text/csv", "text/csv", 406, "cannot answer in 'text/csv'"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_reason(model, body, content_type, accept, status, message):
    got, answer = invoke(model, body, content_type, accept)
    assert (got, answer["status"]) == (status, status)
    assert message in answer["error"], answer["error"]
