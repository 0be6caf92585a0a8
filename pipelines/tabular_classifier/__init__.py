"""Reference pipeline: tabular binary classification with scikit-learn (see ``pipeline``).

The package interface every pipeline package of the reference app exports:
``build_pipeline``, ``step_sources``, ``data_prefix`` and ``SAMPLE_REQUEST``.
"""

from pipelines._offline import data_prefix
from pipelines.tabular_classifier.pipeline import build_pipeline, step_sources

SAMPLE_REQUEST = (
    "text/csv",
    # The first record of scikit-learn's breast-cancer data: its 30 features in order.
    "17.99,10.38,122.8,1001,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,"
    "153.4,0.006399,0.04904,0.05373,0.01587,0.03003,0.006193,25.38,17.33,184.6,2019,0.1622,"
    "0.6656,0.7119,0.2654,0.4601,0.1189\n",
)
"""(content type, body) of a request the served model answers: the smoke test sends it."""

__all__ = ["SAMPLE_REQUEST", "build_pipeline", "data_prefix", "step_sources"]
