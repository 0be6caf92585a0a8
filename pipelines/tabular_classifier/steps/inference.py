"""Inference handlers for the SageMaker scikit-learn serving container (classification).

The train step copies this file and ``step_serving.py`` into the model archive
(``code/``) and the model package points the container at it
(``SAGEMAKER_PROGRAM=inference.py``, ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``).
Requests, errors and content negotiation are ``step_serving``'s; this file gives the
predictions.

Response (``application/json``): ``{"predictions": [{"label": 1, "probability": 0.97},
...]}``, one entry per record, ``probability`` being that of label 1.
"""

from __future__ import annotations

from typing import Any

try:  # in the repository
    from pipelines._steps import step_serving as serving
except ModuleNotFoundError:  # in the serving container: beside this file
    import step_serving as serving  # type: ignore[no-redef]

# The container looks the handlers up on this module.
model_fn, input_fn, output_fn = serving.model_fn, serving.input_fn, serving.output_fn


def predict_fn(input_data: Any, model: Any) -> Any:
    """Labels and probabilities of label 1, or a RequestError for ``output_fn``."""
    frame = serving.features(input_data, model)
    if isinstance(frame, serving.RequestError):
        return frame
    probabilities = model.predict_proba(frame)[:, 1]
    labels = model.predict(frame)
    return {
        "predictions": [
            {"label": int(label), "probability": float(probability)}
            for label, probability in zip(labels, probabilities, strict=True)
        ]
    }
