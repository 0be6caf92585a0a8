"""AWS CDK constructs for SageMaker MLOps.

One public construct per module:

- `ArtifactStore` (artifact_store): KMS key + versioned, TLS-only, logged S3 bucket.
- `SageMakerPipeline` (sagemaker_pipeline): a pipeline definition as AWS::SageMaker::Pipeline.
- `ModelRegistry` (model_registry): a model package group with cross-account read.
- `RegisteredModel` (registered_model): a SageMaker model from a pinned package version.
- `RealtimeEndpoint` (realtime_endpoint): endpoint config + endpoint with guardrails.
- `DataQualityMonitor` (data_quality_monitor): Model Monitor schedule against a baseline.
- `EndpointAlarms` (endpoint_alarms): alarms, encrypted SNS topic and a dashboard.

`placeholders` holds the stand-ins for deploy-time values inside a definition, and
`ConfigurationError` is the one error raised for invalid props. Constructs are imported
on first use, so `constructs_lib.errors` and `placeholders` load without aws-cdk-lib.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "ArtifactStore": "artifact_store",
    "SageMakerPipeline": "sagemaker_pipeline",
    "ModelRegistry": "model_registry",
    "RegisteredModel": "registered_model",
    "RealtimeEndpoint": "realtime_endpoint",
    "DataQualityMonitor": "data_quality_monitor",
    "EndpointAlarms": "endpoint_alarms",
    "ConfigurationError": "errors",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
    return getattr(importlib.import_module(f"constructs_lib.{_MODULES[name]}"), name)
