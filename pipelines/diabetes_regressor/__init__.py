"""Reference pipeline: regression on scikit-learn's bundled diabetes data (see ``pipeline``)."""

from pipelines._offline import data_prefix
from pipelines.diabetes_regressor.pipeline import (
    SAMPLE_REQUEST,
    build_pipeline,
    step_sources,
)

__all__ = ["SAMPLE_REQUEST", "build_pipeline", "data_prefix", "step_sources"]
