"""What every model's ``inference.py`` shares: request parsing, content negotiation, errors.

Staged beside ``inference.py``: the train step copies both into the model archive
(``code/``), where the serving container imports them. ``inference.py`` brings the
model-specific part (``predict_fn``, using ``features`` here) and takes the rest from this
module; the container calls ``model_fn`` once, then ``input_fn`` -> ``predict_fn`` ->
``output_fn`` per request.

Requests (one record = the feature values in training-column order, no target):

* ``text/csv``: one record per line, no header; an empty field is a missing value.
* ``application/json``: ``{"instances": [[...], ...]}``, ``[[...], ...]`` or one flat
  record ``[...]``; ``null`` is a missing value.

Responses are ``application/json``. Bad requests get a JSON error body and a 4xx status,
not a 500: 415 for an unsupported content type, 406 for an ``Accept`` that is not JSON,
400 for a body that does not parse or has the wrong number of values per record. The
scikit-learn container turns any exception raised by these functions into a 500, so a
rejected request travels from ``input_fn``/``predict_fn`` to ``output_fn`` as a
``RequestError`` value, and ``output_fn`` answers it with the serving stack's own
response object (see ``_server_response``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

JSON = "application/json"
CSV = "text/csv"
MODEL_FILE = "model.joblib"


class RequestError(ValueError):
    """A request the model cannot answer; ``status`` is the HTTP status (4xx) to return."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> str:
        """The JSON error body."""
        return json.dumps({"error": self.message, "status": self.status})


@dataclass(frozen=True)
class Response:
    """A response outside a serving container (local runs and tests)."""

    body: str
    status: int
    content_type: str = JSON


def model_fn(model_dir: str) -> Any:
    """Load the estimator the train step saved."""
    return joblib.load(Path(model_dir) / MODEL_FILE)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _to_text(body: str | bytes | bytearray) -> str:
    if isinstance(body, str):
        return body
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(400, f"request body is not UTF-8 text: {error}") from error


def _number(value: Any, where: str) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        raise RequestError(400, f"{where}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RequestError(400, f"{where}: {value!r} is not a number") from None


def _rectangular(records: list[list[float]]) -> np.ndarray:
    if not records:
        raise RequestError(400, "the request holds no record")
    width = len(records[0])
    for number, record in enumerate(records, start=1):
        if len(record) != width:
            raise RequestError(
                400, f"record {number} has {len(record)} values, record 1 has {width}"
            )
    return np.asarray(records, dtype=float)


def _parse_csv(text: str) -> np.ndarray:
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    return _rectangular(
        [
            [
                _number(value.strip(), f"record {number}, value {i}")
                for i, value in enumerate(row, 1)
            ]
            for number, row in enumerate(rows, start=1)
        ]
    )


def _parse_json(text: str) -> np.ndarray:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from error
    if isinstance(payload, dict):
        if "instances" not in payload:
            raise RequestError(400, 'a JSON object request needs an "instances" list')
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise RequestError(400, "expected a list of records (lists of numbers)")
    if payload and not any(isinstance(item, list) for item in payload):
        payload = [payload]  # one flat record
    records = []
    for number, record in enumerate(payload, start=1):
        if not isinstance(record, list):
            raise RequestError(400, f"record {number} is not a list of numbers")
        records.append([_number(v, f"record {number}, value {i}") for i, v in enumerate(record, 1)])
    return _rectangular(records)


def parse_request(request_body: str | bytes, request_content_type: str | None) -> np.ndarray:
    """The records of a request as a 2-D float array; raises RequestError if unusable."""
    media_type = _media_type(request_content_type)
    if media_type == CSV:
        return _parse_csv(_to_text(request_body))
    if media_type == JSON:
        return _parse_json(_to_text(request_body))
    raise RequestError(
        415, f"unsupported content type {request_content_type!r}; use {CSV} or {JSON}"
    )


def input_fn(request_body: str | bytes, request_content_type: str | None) -> Any:
    """Deserialize a request; a rejected one is returned (not raised) as a RequestError."""
    try:
        return parse_request(request_body, request_content_type)
    except RequestError as error:
        return error


def features(input_data: Any, model: Any) -> pd.DataFrame | RequestError:
    """The parsed records as a frame the model takes (its feature names, when it has
    them), or a RequestError: passed through, or for a wrong number of values."""
    if isinstance(input_data, RequestError):
        return input_data
    expected = int(model.n_features_in_)
    if input_data.shape[1] != expected:
        return RequestError(
            400, f"each record needs {expected} feature values, got {input_data.shape[1]}"
        )
    names = getattr(model, "feature_names_in_", None)
    return pd.DataFrame(input_data, columns=list(names) if names is not None else None)


def _accepts_json(accept: str | None) -> bool:
    wanted = {_media_type(part) for part in (accept or "").split(",")}
    return not wanted - {""} or bool(wanted & {JSON, "application/*", "*/*"})


def output_fn(prediction: Any, accept: str | None) -> Any:
    """Serialize predictions as JSON, or answer a rejected request with its 4xx status."""
    if isinstance(prediction, RequestError):
        return _server_response(prediction.body(), prediction.status)
    if not _accepts_json(accept):
        error = RequestError(406, f"cannot answer in {accept!r}; responses are {JSON}")
        return _server_response(error.body(), error.status)
    return _server_response(json.dumps(prediction), 200)


def _server_response(body: str, status: int) -> Any:
    """A response the serving stack in use understands, carrying ``status``.

    * sagemaker-containers (the scikit-learn container's single-model Flask worker): its
      ``Response``, whose status the worker returns as is;
    * sagemaker-inference (multi-model server stack): the body, or for an error its
      toolkit exception, which it maps to the status;
    * neither (local runs, tests): a ``Response`` value.
    """
    try:
        from sagemaker_containers.beta.framework import worker
    except ImportError:
        pass
    else:
        return worker.Response(response=body, status=status, mimetype=JSON)
    try:
        from sagemaker_inference import errors
    except ImportError:
        return Response(body=body, status=status)
    if status >= 400:
        raise errors.GenericInferenceToolkitError(status, body)
    return body
