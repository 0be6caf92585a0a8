"""AWS CDK constructs for SageMaker MLOps.

One public construct per module:

- `ArtifactStore` (artifact_store): KMS key + versioned, TLS-only, logged S3 bucket.
- `SageMakerPipeline` (sagemaker_pipeline): a pipeline definition as AWS::SageMaker::Pipeline.
- `ModelRegistry` (model_registry): a model package group with cross-account read.

`placeholders` holds the stand-ins for deploy-time values inside a definition, and
`ConfigurationError` is the one error raised for invalid props.
"""

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.sagemaker_pipeline import SageMakerPipeline

__all__ = ["ArtifactStore", "ConfigurationError", "ModelRegistry", "SageMakerPipeline"]
