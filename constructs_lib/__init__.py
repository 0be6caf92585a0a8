"""AWS CDK constructs for SageMaker MLOps.

Every public construct, interface and value class is importable from here with its real
type; each lives in the module named for it:

Build side
    `ArtifactStore` (artifact_store): KMS key + versioned, TLS-only, logged S3 bucket.
    `SageMakerPipeline`, `IPipeline` (sagemaker_pipeline): a pipeline definition
    as `AWS::SageMaker::Pipeline`, with a role derived from its steps.
    `ModelRegistry`, `IModelPackageGroup` (model_registry): a model package group with
    cross-account read.
    `ModelApproval`, `MetricThreshold` (model_approval, metrics): the rule and Lambda
    that judge registered versions and open promotion pull requests.
    `PipelineNotifications`, `RetrainingSchedule`, `NotificationTopic`,
    `GitHubDeployAccess`.
    `RetrainingTrigger` (retraining_trigger): monitoring alarms start the pipeline, at
    most one execution at a time and no more often than an interval.

Serving side
    `RegisteredModel`, `IModel`, `ModelVpc` (registered_model): a model from a pinned
    package version.
    `RealtimeEndpoint`, `IEndpoint`, `InstanceVariant`, `ServerlessVariant`,
    `TrafficShift`, `Autoscaling`, `DataCapture` (realtime_endpoint).
    `DataQualityMonitor` (data_quality_monitor), `EndpointAlarms`, `AlarmThresholds`
    (endpoint_alarms).
    `AlarmForwarding` (alarm_forwarding): alarms entering ALARM sent to another
    account's event bus (where a `RetrainingTrigger` starts the pipeline).
    `ModelQualityMonitor` (model_quality_monitor): model quality against ground truth
    (labels written with the `ground_truth` module).
    `ModelBiasMonitor`, `ModelExplainabilityMonitor`, `BiasAnalysis`, `BiasFacet`,
    `ShapAnalysis` (clarify_monitors): SageMaker Clarify monitors.
    `BatchInference`, `BatchMonitoring`, `BatchModel` (batch_inference): a pinned model
    version scored on S3 files on a schedule, with data-quality monitoring.

Both sides
    `VpcConfig` (vpc_config): the subnets and security groups jobs, monitors and models
    run in.

`placeholders` holds the stand-ins for deploy-time values inside a pipeline definition,
and `ConfigurationError` is the one error raised for invalid props.
"""

from __future__ import annotations

from constructs_lib import placeholders
from constructs_lib.alarm_forwarding import AlarmForwarding
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.batch_inference import BatchInference, BatchModel, BatchMonitoring
from constructs_lib.clarify_monitors import (
    BiasAnalysis,
    BiasFacet,
    ModelBiasMonitor,
    ModelExplainabilityMonitor,
    ShapAnalysis,
)
from constructs_lib.data_quality_monitor import DataQualityMonitor
from constructs_lib.endpoint_alarms import AlarmThresholds, EndpointAlarms
from constructs_lib.errors import ConfigurationError
from constructs_lib.github_deploy_access import GitHubDeployAccess
from constructs_lib.metrics import (
    REPORT_METRICS,
    Direction,
    MetricThreshold,
    ProblemType,
)
from constructs_lib.model_approval import ModelApproval
from constructs_lib.model_quality_monitor import ModelQualityMonitor
from constructs_lib.model_registry import IModelPackageGroup, ModelRegistry
from constructs_lib.notification_topic import NotificationTopic
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.realtime_endpoint import (
    Autoscaling,
    DataCapture,
    IEndpoint,
    InstanceVariant,
    RealtimeEndpoint,
    ServerlessVariant,
    TrafficShift,
)
from constructs_lib.registered_model import IModel, ModelVpc, RegisteredModel
from constructs_lib.retraining_schedule import RetrainingSchedule
from constructs_lib.retraining_trigger import RetrainingTrigger
from constructs_lib.sagemaker_pipeline import (
    DefinitionSource,
    HasDefinition,
    IPipeline,
    SageMakerPipeline,
)
from constructs_lib.vpc_config import VpcConfig

__version__ = "0.4.0"

__all__ = [
    "REPORT_METRICS",
    "AlarmForwarding",
    "AlarmThresholds",
    "ArtifactStore",
    "Autoscaling",
    "BatchInference",
    "BatchModel",
    "BatchMonitoring",
    "BiasAnalysis",
    "BiasFacet",
    "ConfigurationError",
    "DataCapture",
    "DataQualityMonitor",
    "DefinitionSource",
    "Direction",
    "EndpointAlarms",
    "GitHubDeployAccess",
    "HasDefinition",
    "IEndpoint",
    "IModel",
    "IModelPackageGroup",
    "IPipeline",
    "InstanceVariant",
    "MetricThreshold",
    "ModelApproval",
    "ModelBiasMonitor",
    "ModelExplainabilityMonitor",
    "ModelQualityMonitor",
    "ModelRegistry",
    "ModelVpc",
    "NotificationTopic",
    "PipelineNotifications",
    "ProblemType",
    "RealtimeEndpoint",
    "RegisteredModel",
    "RetrainingSchedule",
    "RetrainingTrigger",
    "SageMakerPipeline",
    "ServerlessVariant",
    "ShapAnalysis",
    "TrafficShift",
    "VpcConfig",
    "placeholders",
]
