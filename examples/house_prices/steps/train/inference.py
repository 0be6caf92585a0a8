"""Serving hooks for the scikit-learn container: CSV rows in, JSON predictions out."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd


def model_fn(model_dir: str) -> Any:
    return joblib.load(Path(model_dir) / "model.joblib")


def input_fn(body: str | bytes, content_type: str) -> pd.DataFrame:
    if content_type != "text/csv":
        raise ValueError(f"unsupported content type {content_type}")
    text = body.decode() if isinstance(body, bytes) else body
    return pd.read_csv(io.StringIO(text), header=None)


def predict_fn(rows: pd.DataFrame, model: Any) -> list[float]:
    return [float(v) for v in model.predict(rows.to_numpy())]


def output_fn(predictions: list[float], accept: str) -> str:
    return json.dumps({"predictions": predictions})
