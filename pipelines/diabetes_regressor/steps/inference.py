"""Inference handlers for the SageMaker scikit-learn serving container (regression).

The train step copies this file and ``step_serving.py`` into the model archive
(``code/``) and the model package points the container at it
(``SAGEMAKER_PROGRAM=inference.py``, ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``).
Requests, errors and content negotiation are ``step_serving``'s; this file gives the
predictions.

Response (``application/json``): ``{"predictions": [151.2, 75.0, ...]}``, one number
(the predicted target) per record.
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
    """One predicted value per record, or a RequestError for ``output_fn``."""
    frame = serving.features(input_data, model)
    if isinstance(frame, serving.RequestError):
        return frame
    return {"predictions": [float(value) for value in model.predict(frame)]}
