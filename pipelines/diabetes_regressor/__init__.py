"""Reference pipeline: regression on scikit-learn's bundled diabetes data (see ``pipeline``)."""

from pipelines.diabetes_regressor.pipeline import (
    DATA_PREFIX,
    SAMPLE_REQUEST,
    build_pipeline,
    step_sources,
)

__all__ = ["DATA_PREFIX", "SAMPLE_REQUEST", "build_pipeline", "step_sources"]
