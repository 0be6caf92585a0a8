"""Reference pipeline: tabular binary classification with scikit-learn (see ``pipeline``)."""

from pipelines.tabular_classifier.pipeline import build_pipeline, step_sources

__all__ = ["build_pipeline", "step_sources"]
