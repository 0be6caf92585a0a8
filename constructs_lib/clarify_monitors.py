"""`ModelBiasMonitor` and `ModelExplainabilityMonitor`: SageMaker Clarify schedules.

Both write their Clarify analysis config (built from the typed `BiasAnalysis` or
`ShapAnalysis`) to S3 at deploy time and compare each run with the baseline constraints
the build pipeline's ClarifyCheck steps recorded on the served package. Facts used here
come from the SageMaker documentation and the SageMaker Python SDK (3.27,
`sagemaker.core.clarify` analysis-config schema):

- Bias metrics go to `aws/sagemaker/Endpoints/bias-metrics` as `bias_metric_<short name>`
  with dimensions Endpoint, MonitoringSchedule, BiasStage, Label, LabelValue, Facet,
  FacetValue: https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-model-monitor-bias-drift-cw.html
- Feature attributions go to `aws/sagemaker/Endpoints/explainability-metrics` as
  `feature_<name>` with dimensions Endpoint, MonitoringSchedule, ExplainabilityMethod
  (KernelShap), Label, ValueType (GlobalShapValues or ExpectedValue):
  https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-feature-attribute-drift-cw.html
- Bias monitoring merges ground truth, with the model-quality offsets:
  https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-model-monitor-bias-drift-schedule.html
- SHAP `agg_method` is `mean_abs`, `median` or `mean_sq`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import _monitoring as mon
from constructs_lib import images
from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib._validate import Checks, typed
from constructs_lib.data_quality_monitor import schedule_period_seconds
from constructs_lib.realtime_endpoint import _INSTANCE_TYPE, RealtimeEndpoint
from constructs_lib.vpc_config import VpcConfig

BIAS_NAMESPACE = "aws/sagemaker/Endpoints/bias-metrics"
EXPLAINABILITY_NAMESPACE = "aws/sagemaker/Endpoints/explainability-metrics"
BIAS_BASELINE_FIELDS = {"constraints": "ModelMetrics.Bias.PostTrainingReport.S3Uri"}
"""Where a package records the model-bias baseline (the ClarifyCheck step's constraints)."""
EXPLAINABILITY_BASELINE_FIELDS = {"constraints": "ModelMetrics.Explainability.Report.S3Uri"}
"""Where a package records the explainability baseline."""
AGG_METHODS = ("mean_abs", "median", "mean_sq")
SHADOW_PREFIX = "sm-clarify"
"""Name prefix of the shadow endpoint Clarify creates to compute SHAP values."""
_NAME = re.compile(r"^[^\s].{0,199}$")
_Value = str | int | float


def _values(check: Checks, prop: str, value: Any, *, required: bool) -> None:
    """A non-empty list of str/int/float (not a bare str), or None when not required."""
    if value is None and not required:
        return
    ok = (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    )
    if not ok:
        check.fail(prop, typed(value), "a non-empty list of str, int or float values")


def _names(check: Checks, prop: str, value: Any) -> None:
    if value is not None:
        check.strings(prop, value, _NAME, "column name")


@dataclass(frozen=True, kw_only=True)
class BiasFacet:
    """A sensitive attribute (facet) Clarify compares outcomes across."""

    name: str
    """Column name of the attribute, as in `BiasAnalysis.headers`. Required."""
    values: Sequence[_Value] | None = None
    """Values of the sensitive group, or one threshold for a numeric column. Default
    none: Clarify compares each value with the rest."""

    def __post_init__(self) -> None:
        check = Checks("BiasFacet")
        check.text("name", self.name, _NAME, "a column name")
        _values(check, "values", self.values, required=False)
        check.done()

    def to_config(self) -> dict[str, Any]:
        """The analysis config's `facet` entry."""
        facet: dict[str, Any] = {"name_or_index": self.name}
        if self.values is not None:
            facet["value_or_threshold"] = list(self.values)
        return facet


@dataclass(frozen=True, kw_only=True)
class BiasAnalysis:
    """What `ModelBiasMonitor` measures: the label, its positive outcomes, the facets."""

    label: str
    """Name of the label (ground truth) column. Required."""
    label_values: Sequence[_Value]
    """Positive outcome values of the label, or one threshold. Required."""
    facets: Sequence[BiasFacet]
    """The sensitive attributes, at least one. Required."""
    headers: Sequence[str] | None = None
    """Column names of the dataset, label included, in the baseline dataset's order.
    Default none: Clarify takes them from the baseline job."""
    group_variable: str | None = None
    """Column of subgroups for the conditional demographic disparity metrics. Default none."""

    def __post_init__(self) -> None:
        check = Checks("BiasAnalysis")
        check.text("label", self.label, _NAME, "a column name")
        _values(check, "label_values", self.label_values, required=True)
        facets_ok = isinstance(self.facets, list | tuple) and len(self.facets) > 0
        if not facets_ok or not all(isinstance(f, BiasFacet) for f in self.facets):
            check.fail("facets", typed(self.facets), "a non-empty list of BiasFacet")
        _names(check, "headers", self.headers)
        if self.group_variable is not None:
            check.text("group_variable", self.group_variable, _NAME, "a column name or None")
        check.done()

    def to_config(self) -> dict[str, Any]:
        """The Clarify analysis config (`BiasAnalysisConfig` in the SDK)."""
        config: dict[str, Any] = {
            "label": self.label,
            "label_values_or_threshold": list(self.label_values),
            "facet": [f.to_config() for f in self.facets],
        }
        if self.headers is not None:
            config["headers"] = list(self.headers)
        if self.group_variable is not None:
            config["group_variable"] = self.group_variable
        return config


@dataclass(frozen=True, kw_only=True)
class ShapAnalysis:
    """What `ModelExplainabilityMonitor` computes: Kernel SHAP settings."""

    baseline: str | Sequence[Sequence[_Value]]
    """The SHAP baseline: an s3:// URI of baseline records (read by the job, so below
    `baseline_prefix`), or the records themselves (rows of feature values). Required."""
    num_samples: int = 100
    """Samples per record for Kernel SHAP, 1 to 100000. Default 100."""
    agg_method: Literal["mean_abs", "median", "mean_sq"] = "mean_abs"
    """How per-record SHAP values aggregate into global ones: `mean_abs`, `median` or
    `mean_sq`. Default `mean_abs`."""
    use_logit: bool = False
    """Apply the logit to model predictions. Default False."""
    headers: Sequence[str] | None = None
    """Feature column names (no label), in the request's order; name the metrics
    `feature_<name>`. Default none (`feature_0`...)."""
    label_headers: Sequence[str] | None = None
    """Names of the model's output scores (the metrics' `Label` dimension). Default
    none (`label0`...)."""
    content_type: str = "text/csv"
    """Request content type Clarify sends the shadow endpoint. Default `text/csv`."""
    accept_type: str = "text/csv"
    """Response content type Clarify asks the shadow endpoint for. Default `text/csv`."""

    def __post_init__(self) -> None:
        check = Checks("ShapAnalysis")
        if isinstance(self.baseline, str):
            check.text("baseline", self.baseline, mon._S3_URI, "an s3:// URI or a list of rows")
        elif not (
            isinstance(self.baseline, list | tuple)
            and len(self.baseline) > 0
            and all(isinstance(r, list | tuple) and len(r) > 0 for r in self.baseline)
        ):
            check.fail("baseline", typed(self.baseline), "an s3:// URI or a non-empty list of rows")
        check.integer("num_samples", self.num_samples, 1, 100000)
        check.one_of("agg_method", self.agg_method, AGG_METHODS)
        check.instance("use_logit", self.use_logit, bool, "True or False")
        _names(check, "headers", self.headers)
        _names(check, "label_headers", self.label_headers)
        for prop in ("content_type", "accept_type"):
            check.one_of(prop, getattr(self, prop), ("text/csv", "application/jsonlines"))
        check.done()

    def to_config(self, *, model_name: str, instance_type: str) -> dict[str, Any]:
        """The Clarify analysis config (`ExplainabilityAnalysisConfig` in the SDK), with a
        shadow endpoint of `model_name` on one `instance_type` as the predictor."""
        baseline = (
            self.baseline if isinstance(self.baseline, str) else [list(r) for r in self.baseline]
        )
        predictor: dict[str, Any] = {
            "model_name": model_name,
            "instance_type": instance_type,
            "initial_instance_count": 1,
            "endpoint_name_prefix": SHADOW_PREFIX,
            "content_type": self.content_type,
            "accept_type": self.accept_type,
        }
        if self.label_headers is not None:
            predictor["label_headers"] = list(self.label_headers)
        config: dict[str, Any] = {
            "methods": {
                "shap": {
                    "baseline": baseline,
                    "num_samples": self.num_samples,
                    "agg_method": self.agg_method,
                    "use_logit": self.use_logit,
                    "save_local_shap_values": False,
                }
            },
            "predictor": predictor,
        }
        if self.headers is not None:
            config["headers"] = list(self.headers)
        return config


def clarify_image_uri(region: str) -> str:
    """SageMaker Clarify's pinned image for `region` (`images.clarify_image`)."""
    return images.clarify_image(region)


class _ClarifyMonitor(Construct):
    """The job role, analysis config, job definition and schedule both monitors share."""

    _owner = ""
    _kind = ""  # job definition name part
    _suffix = ""  # schedule name part
    _monitoring_type = ""
    _namespace = ""
    _fields: ClassVar[dict[str, str]] = {}
    _merges_ground_truth = False

    def _build(self, props: dict[str, Any], runtime: Duration, analysis: dict[str, Any]) -> None:
        endpoint: RealtimeEndpoint = props["endpoint"]
        stack = Stack.of(self)
        self.endpoint = endpoint
        self.schedule_name = mon.schedule_name(endpoint.endpoint_name, self._suffix)
        self._period = Duration.seconds(
            schedule_period_seconds(props["schedule_expression"]) or 3600
        )
        package = props["model_package_arn"]
        if package is not None:
            self.baseline = mon.package_lookup(self, package, list(self._fields.values()))
            constraints = self.baseline.get_response_field(self._fields["constraints"])
        else:
            constraints = props["baseline_constraints_uri"]
        output_bucket: s3.IBucket = props["output_bucket"]
        output_prefix: str = props["output_prefix"]
        body = json.dumps(stack.resolve(analysis), sort_keys=True)
        key = (
            f"{output_prefix}analysis-config/{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"
        )
        self.analysis_config = analysis
        self.analysis_config_uri = mon.write_json_object(
            self,
            "AnalysisConfig",
            bucket=output_bucket,
            key=key,
            body=analysis,
            kms_key=props["kms_key"],
        )
        reads = [
            (
                props["baseline_bucket"],
                props["baseline_prefix"],
                "Baselines are written per pipeline execution under the pipeline's prefix.",
            )
        ]
        if props.get("ground_truth_bucket") is not None:
            reads.insert(
                0,
                (
                    props["ground_truth_bucket"],
                    props["ground_truth_prefix"],
                    "Labels are written per hour under the ground-truth prefix.",
                ),
            )
        assert endpoint.data_capture is not None
        self.role = mon.monitor_role(
            self,
            description=f"Runs {self._suffix} monitoring for endpoint {endpoint.endpoint_name}",
            capture=endpoint.data_capture,
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            reads=reads,
            kms_key=props["kms_key"],
            metric_namespace=self._namespace,
            vpc=props["vpc"],
        )
        settings = mon.job_settings(
            role=self.role,
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            instance_type=props["instance_type"],
            volume_size_in_gb=props["volume_size_in_gb"],
            max_runtime=runtime,
            kms_key=props["kms_key"],
            vpc=props["vpc"],
            network_isolation=self._network_isolation(),
        )
        app = self._app_name()
        job: dict[str, Any] = {
            "role_arn": settings["role_arn"],
            "job_resources": settings["job_resources"],
            "network_config": settings["network_config"],
            "stopping_condition": settings["stopping_condition"],
            f"{app}_job_output_config": settings["output"],
            f"{app}_app_specification": {
                "image_uri": props["image_uri"] or clarify_image_uri(stack.region),
                "config_uri": self.analysis_config_uri,
                "environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            f"{app}_baseline_config": {"constraints_resource": {"s3_uri": constraints}},
            f"{app}_job_input": self._job_input(props),
        }
        self.job_definition_name = mon.content_name(
            stack, endpoint.endpoint_name, self._kind, job, package or ""
        )
        cfn = (
            sagemaker.CfnModelBiasJobDefinition
            if app == "model_bias"
            else sagemaker.CfnModelExplainabilityJobDefinition
        )
        self.job_definition = cfn(
            self,
            "JobDefinition",
            job_definition_name=self.job_definition_name,
            **mon.l1_props(job),
        )
        self.job_definition.node.add_dependency(self.role)
        self.job_definition.node.add_dependency(endpoint.resource)
        self.resource = sagemaker.CfnMonitoringSchedule(
            self,
            "Resource",
            monitoring_schedule_name=self.schedule_name,
            endpoint_name=endpoint.endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=self.job_definition_name,
                monitoring_type=self._monitoring_type,
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=props["schedule_expression"]
                ),
            ),
        )
        # SageMaker checks that the analysis config, job definition and endpoint exist
        # when the schedule is created, and all must outlive it.
        self.job_definition.node.add_dependency(self.node.find_child("AnalysisConfig"))
        self.resource.node.add_dependency(self.job_definition)
        self.resource.node.add_dependency(endpoint.resource)

    def _app_name(self) -> str:
        raise NotImplementedError

    def _network_isolation(self) -> bool:
        return True

    def _job_input(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _check_common(cls, check: Checks, props: dict[str, Any], runtime: Any) -> None:
        mon.check_endpoint(check, props["endpoint"])
        mon.check_output_and_job(check, props)
        mon.check_baseline(
            check,
            model_package_arn=props["model_package_arn"],
            baseline_constraints_uri=props["baseline_constraints_uri"],
            baseline_bucket=props["baseline_bucket"],
            baseline_prefix=props["baseline_prefix"],
        )
        mon.check_schedule(
            check,
            props["schedule_expression"],
            runtime,
            merges_ground_truth=cls._merges_ground_truth,
        )
        for prop in ("features_attribute", "inference_attribute", "probability_attribute"):
            if props.get(prop) is not None:
                check.text(prop, props[prop], allowed="a CSV index or a JSON path, or None")

    def metric(
        self, metric_name: str, *, dimensions: dict[str, str] | None = None, **options: Any
    ) -> cloudwatch.Metric:
        """A metric of this schedule (dimensions Endpoint, MonitoringSchedule and
        `dimensions`). Defaults: Average over the schedule's period; `options` takes any
        `cloudwatch.MetricOptions` field and overrides them."""
        return mon.schedule_metric(
            namespace=self._namespace,
            metric_name=metric_name,
            endpoint_name=self.endpoint.endpoint_name,
            schedule=self.schedule_name,
            period=self._period,
            dimensions=dimensions,
            **options,
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        actions: Sequence[cloudwatch.IAlarmAction],
        **options: Any,
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(  # type: ignore[attr-defined]
            self,
            construct_id,
            **{
                "alarm_description": description,
                "evaluation_periods": 1,
                "treat_missing_data": cloudwatch.TreatMissingData.NOT_BREACHING,
                **options,
            },
        )
        return mon.with_actions(alarm, actions)


class ModelBiasMonitor(_ClarifyMonitor):
    """Watch an endpoint's post-training bias (Clarify) against the pipeline's baseline.

    Creates an `AWS::SageMaker::ModelBiasJobDefinition` and a `MonitoringSchedule`
    (`node.default_child`). The analysis config is built from `analysis` and written
    under `output_prefix` at deploy time; predictions come from the captured responses
    (`inference_attribute`/`probability_attribute`) and labels from
    `ground_truth_prefix`, merged over the `start_time_offset`..`end_time_offset`
    window. The baseline is the package's `ModelMetrics.Bias.PostTrainingReport` (read at
    deploy time) or `baseline_constraints_uri`. Network-isolated, inter-container
    encryption, `kms_key` on volume, reports and the analysis config.

    Example::

        bias = ModelBiasMonitor(stack, "Bias", endpoint=endpoint,
            analysis=BiasAnalysis(label="churn", label_values=[1],
                                  facets=[BiasFacet(name="age", values=[40])]),
            probability_attribute="0", probability_threshold=0.5,
            ground_truth_bucket=bucket, ground_truth_prefix="ground-truth/churn-prod/",
            output_bucket=bucket, output_prefix="monitoring/churn-prod/bias/",
            model_package_arn=arn, baseline_bucket=build_bucket,
            baseline_prefix="pipelines/churn/", start_time_offset="-P2D",
            end_time_offset="-P1D", schedule_expression="cron(0 6 ? * * *)",
            image_uri=clarify_image, kms_key=key)
        bias.alarm("DPPL", facet="age", facet_value="40", label_value="1", maximum=0.1)
    """

    _owner = "ModelBiasMonitor"
    _kind = "mb"
    _suffix = "model-bias"
    _monitoring_type = "ModelBias"
    _namespace = BIAS_NAMESPACE
    _fields = BIAS_BASELINE_FIELDS
    _merges_ground_truth = True

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: RealtimeEndpoint,
        analysis: BiasAnalysis,
        ground_truth_bucket: s3.IBucket,
        ground_truth_prefix: str,
        output_bucket: s3.IBucket,
        output_prefix: str,
        baseline_bucket: s3.IBucket,
        baseline_prefix: str,
        start_time_offset: str,
        end_time_offset: str,
        model_package_arn: str | None = None,
        baseline_constraints_uri: str | None = None,
        features_attribute: str | None = None,
        inference_attribute: str | None = None,
        probability_attribute: str | None = None,
        probability_threshold: float | None = None,
        schedule_expression: str = "cron(0 * ? * * *)",
        instance_type: str = "ml.m5.large",
        volume_size_in_gb: int = 20,
        max_runtime: Duration | None = None,
        kms_key: kms.IKey | None = None,
        vpc: VpcConfig | None = None,
        image_uri: str | None = None,
    ) -> None:
        """Create the analysis config, job definition, schedule, role and baseline lookup.

        :param endpoint: an instance endpoint with `data_capture`. Required.
        :param analysis: label, positive outcomes and facets. Required.
        :param ground_truth_bucket: where labels are written. Required.
        :param ground_truth_prefix: key prefix (folder, ending with '/') of the labels
            (`constructs_lib.ground_truth` format). Required.
        :param output_bucket: where reports and the analysis config go. Required.
        :param output_prefix: key prefix (folder, ending with '/') in `output_bucket`.
            Required.
        :param baseline_bucket: where the baseline lives; reads limited to
            `baseline_prefix`. Required.
        :param baseline_prefix: key prefix (folder, ending with '/') of baselines. Required.
        :param start_time_offset: window start before each run, `-PT<n>H` or `-P<n>D`.
            Required.
        :param end_time_offset: window end before each run. Required.
        :param model_package_arn: the served package (its
            `ModelMetrics.Bias.PostTrainingReport` is the baseline). Default none; give
            exactly one of this and `baseline_constraints_uri`.
        :param baseline_constraints_uri: `s3://` URI of the constraints below
            `baseline_prefix`. Default none.
        :param features_attribute: where the features are in a JSON Lines request.
            Default none (CSV).
        :param inference_attribute: where the predicted label is in the captured
            response. Default none; give it or `probability_attribute`.
        :param probability_attribute: where the score is in the captured response.
            Default none.
        :param probability_threshold: score from which the prediction is positive, 0 to 1
            (with `probability_attribute`). Default none (Clarify's 0.5).
        :param schedule_expression: default hourly; also daily or every N hours.
        :param instance_type: default ml.m5.large.
        :param volume_size_in_gb: default 20; 1 to 16384.
        :param max_runtime: default 30 minutes; at most half the schedule's period (the
            ground-truth merge shares it).
        :param kms_key: encrypts volume, reports and the analysis config. Default none.
        :param vpc: subnets and security groups the job runs in. Default none.
        :param image_uri: the Clarify image. Default: `images.clarify_image(region)`
            when the library provides it; otherwise required.
        """
        super().__init__(scope, construct_id)
        runtime = max_runtime if max_runtime is not None else Duration.minutes(30)
        props = dict(locals())
        check = Checks("ModelBiasMonitor")
        self._check_common(check, props, runtime)
        check.instance("analysis", analysis, BiasAnalysis, "a BiasAnalysis")
        check.has("ground_truth_bucket", ground_truth_bucket, "bucket_name", "an s3.IBucket")
        check.key_prefix("ground_truth_prefix", ground_truth_prefix)
        mon.check_offsets(check, start_time_offset, end_time_offset)
        if inference_attribute is None and probability_attribute is None:
            check.fail(
                "inference_attribute/probability_attribute",
                None,
                "at least one: where the prediction is in the captured response",
            )
        threshold_ok = probability_threshold is not None and check.number(
            "probability_threshold", probability_threshold, 0, 1
        )
        if threshold_ok and probability_attribute is None:
            check.fail(
                "probability_threshold",
                probability_threshold,
                "None without probability_attribute (the threshold applies to it)",
            )
        check.done()
        self.analysis = analysis
        self._build(props, runtime, analysis.to_config())

    def _app_name(self) -> str:
        return "model_bias"

    def _job_input(self, props: dict[str, Any]) -> dict[str, Any]:
        bucket: s3.IBucket = props["ground_truth_bucket"]
        return {
            "endpoint_input": {
                "endpoint_name": props["endpoint"].endpoint_name,
                "local_path": mon.LOCAL_INPUT,
                "s3_input_mode": "File",
                "s3_data_distribution_type": "FullyReplicated",
                "features_attribute": props["features_attribute"],
                "inference_attribute": props["inference_attribute"],
                "probability_attribute": props["probability_attribute"],
                "probability_threshold_attribute": props["probability_threshold"],
                "start_time_offset": props["start_time_offset"],
                "end_time_offset": props["end_time_offset"],
            },
            "ground_truth_s3_input": {
                "s3_uri": f"s3://{bucket.bucket_name}/{props['ground_truth_prefix'].rstrip('/')}"
            },
        }

    def metric_bias(
        self,
        short_name: str,
        *,
        facet: str,
        facet_value: str,
        label_value: str,
        stage: Literal["Pre-training", "Post-training"] = "Post-training",
        **options: Any,
    ) -> cloudwatch.Metric:
        """`bias_metric_<short_name>` (e.g. DPPL, DI, CI) for one facet value and label
        value, as the job publishes them from the analysis config."""
        check = Checks("ModelBiasMonitor.metric_bias")
        check.text(
            "short_name",
            short_name,
            re.compile(r"^[A-Za-z0-9_]{1,40}$"),
            "a metric short name such as DPPL",
        )
        facets = [f.name for f in self.analysis.facets]
        check.one_of("facet", facet, facets)
        for prop, value in (("facet_value", facet_value), ("label_value", label_value)):
            check.text(prop, value, allowed="the value as text")
        check.one_of("stage", stage, ("Pre-training", "Post-training"))
        check.done()
        return self.metric(
            f"bias_metric_{short_name}",
            dimensions={
                "BiasStage": stage,
                "Label": self.analysis.label,
                "LabelValue": label_value,
                "Facet": facet,
                "FacetValue": facet_value,
            },
            **options,
        )

    def alarm(
        self,
        short_name: str,
        *,
        facet: str,
        facet_value: str,
        label_value: str,
        maximum: float,
        actions: Sequence[cloudwatch.IAlarmAction] = (),
        **options: Any,
    ) -> cloudwatch.Alarm:
        """An alarm when the absolute value of `bias_metric_<short_name>` exceeds
        `maximum` (bias metrics are signed; 0 is no bias) in a schedule period."""
        check = Checks("ModelBiasMonitor.alarm")
        check.number("maximum", maximum, 0, low_open=True)
        check.done()
        metric = self.metric_bias(
            short_name, facet=facet, facet_value=facet_value, label_value=label_value
        )
        absolute = cloudwatch.MathExpression(
            expression="ABS(m)",
            using_metrics={"m": metric},
            period=metric.period,
            label=f"|{short_name}| {facet}={facet_value}",
        )
        return self._alarm(
            f"Alarm-{short_name}-{facet}-{facet_value}",
            absolute,
            f"Bias {short_name} for {facet}={facet_value} beyond {maximum:g} on"
            f" {self.endpoint.endpoint_name}",
            actions,
            threshold=maximum,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            **options,
        )


class ModelExplainabilityMonitor(_ClarifyMonitor):
    """Watch an endpoint's feature attributions (Clarify Kernel SHAP) for drift.

    Creates an `AWS::SageMaker::ModelExplainabilityJobDefinition` and a
    `MonitoringSchedule` (`node.default_child`). Clarify computes SHAP values by calling a
    temporary shadow endpoint (`sm-clarify-*`) of `model_name`, so the job cannot run
    network-isolated: its role may create, invoke and delete only `sm-clarify-*`
    endpoints and configs; put it in `vpc` with SageMaker API and runtime interface
    endpoints to keep that traffic private. Inter-container encryption and `kms_key` on
    volume, reports and the analysis config. The baseline is the package's
    `ModelMetrics.Explainability.Report` (read at deploy time) or
    `baseline_constraints_uri`.

    Example::

        shap = ModelExplainabilityMonitor(stack, "Explainability", endpoint=endpoint,
            model_name=model.model_name,
            analysis=ShapAnalysis(baseline="s3://.../pipelines/churn/shap-baseline.csv",
                                  headers=["age", "income"]),
            output_bucket=bucket, output_prefix="monitoring/churn-prod/explainability/",
            model_package_arn=arn, baseline_bucket=build_bucket,
            baseline_prefix="pipelines/churn/", schedule_expression="cron(0 6 ? * * *)",
            image_uri=clarify_image, kms_key=key)
        shap.alarm("age", maximum=0.4)
    """

    _owner = "ModelExplainabilityMonitor"
    _kind = "me"
    _suffix = "model-explainability"
    _monitoring_type = "ModelExplainability"
    _namespace = EXPLAINABILITY_NAMESPACE
    _fields = EXPLAINABILITY_BASELINE_FIELDS

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: RealtimeEndpoint,
        model_name: str,
        analysis: ShapAnalysis,
        output_bucket: s3.IBucket,
        output_prefix: str,
        baseline_bucket: s3.IBucket,
        baseline_prefix: str,
        model_package_arn: str | None = None,
        baseline_constraints_uri: str | None = None,
        features_attribute: str | None = None,
        inference_attribute: str | None = None,
        probability_attribute: str | None = None,
        shadow_instance_type: str = "ml.m5.large",
        schedule_expression: str = "cron(0 * ? * * *)",
        instance_type: str = "ml.m5.large",
        volume_size_in_gb: int = 20,
        max_runtime: Duration | None = None,
        kms_key: kms.IKey | None = None,
        vpc: VpcConfig | None = None,
        image_uri: str | None = None,
    ) -> None:
        """Create the analysis config, job definition, schedule, role and baseline lookup.

        :param endpoint: an instance endpoint with `data_capture`. Required.
        :param model_name: the SageMaker model the endpoint serves (e.g.
            `RegisteredModel.model_name`); Clarify hosts it on a shadow endpoint to
            compute SHAP values. Required.
        :param analysis: SHAP settings. Required.
        :param output_bucket: where reports and the analysis config go. Required.
        :param output_prefix: key prefix (folder, ending with '/') in `output_bucket`.
            Required.
        :param baseline_bucket: where the baseline (and an s3:// SHAP baseline) live;
            reads limited to `baseline_prefix`. Required.
        :param baseline_prefix: key prefix (folder, ending with '/'). Required.
        :param model_package_arn: the served package (its
            `ModelMetrics.Explainability.Report` is the baseline). Default none; give
            exactly one of this and `baseline_constraints_uri`.
        :param baseline_constraints_uri: `s3://` URI of the constraints below
            `baseline_prefix`. Default none.
        :param features_attribute: where the features are in a JSON Lines request.
            Default none (CSV).
        :param inference_attribute: where the predicted label is in the response.
            Default none.
        :param probability_attribute: where the score is in the response. Default none.
        :param shadow_instance_type: instance type of the shadow endpoint. Default
            ml.m5.large.
        :param schedule_expression: default hourly; also daily or every N hours.
        :param instance_type: default ml.m5.large.
        :param volume_size_in_gb: default 20; 1 to 16384.
        :param max_runtime: default 1 hour; up to the schedule's period.
        :param kms_key: encrypts volume, reports and the analysis config. Default none.
        :param vpc: subnets and security groups the job runs in. Default none.
        :param image_uri: the Clarify image. Default: `images.clarify_image(region)`
            when the library provides it; otherwise required.
        """
        super().__init__(scope, construct_id)
        runtime = max_runtime if max_runtime is not None else Duration.hours(1)
        props = dict(locals())
        check = Checks("ModelExplainabilityMonitor")
        self._check_common(check, props, runtime)
        check.text("model_name", model_name, allowed="the served model's name")
        check.text(
            "shadow_instance_type", shadow_instance_type, _INSTANCE_TYPE, "ml.<family>.<size>"
        )
        if check.instance("analysis", analysis, ShapAnalysis, "a ShapAnalysis") and isinstance(
            analysis.baseline, str
        ):
            bucket_ok = hasattr(baseline_bucket, "bucket_name")
            mon.check_uri_under(
                check,
                "analysis.baseline",
                analysis.baseline,
                baseline_bucket if bucket_ok else None,
                baseline_prefix if isinstance(baseline_prefix, str) else None,
            )
        check.done()
        self.analysis = analysis
        self._build(
            props,
            runtime,
            analysis.to_config(model_name=model_name, instance_type=shadow_instance_type),
        )
        self._allow_shadow_endpoint(model_name)

    def _app_name(self) -> str:
        return "model_explainability"

    def _network_isolation(self) -> bool:
        return False  # Clarify calls the SageMaker API to host and invoke the shadow endpoint.

    def _job_input(self, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "endpoint_input": {
                "endpoint_name": props["endpoint"].endpoint_name,
                "local_path": mon.LOCAL_INPUT,
                "s3_input_mode": "File",
                "s3_data_distribution_type": "FullyReplicated",
                "features_attribute": props["features_attribute"],
                "inference_attribute": props["inference_attribute"],
                "probability_attribute": props["probability_attribute"],
            }
        }

    def _allow_shadow_endpoint(self, model_name: str) -> None:
        stack = Stack.of(self)
        endpoints = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=f"{SHADOW_PREFIX}-*"
        )
        configs = stack.format_arn(
            service="sagemaker", resource="endpoint-config", resource_name=f"{SHADOW_PREFIX}-*"
        )
        model = stack.format_arn(
            service="sagemaker",
            resource="model",
            resource_name=model_name if Token.is_unresolved(model_name) else model_name.lower(),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:AddTags",
                ],
                resources=[endpoints, configs],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeModel"],
                resources=[model],
            )
        )
        acknowledge(
            self.role,
            {
                wildcard_resource(self, endpoints): "Clarify names each shadow"
                " endpoint sm-clarify-<model>-<time>; the role may manage only those.",
                wildcard_resource(self, configs): "Clarify names each"
                " shadow endpoint config sm-clarify-config-<time>; the role may manage only"
                " those.",
            },
        )

    def metric_attribution(
        self, feature: str, *, label: str = "label0", **options: Any
    ) -> cloudwatch.Metric:
        """Global SHAP value of `feature` (`feature_<name>`) for output `label` (a
        `label_headers` name, or `label0`)."""
        check = Checks("ModelExplainabilityMonitor.metric_attribution")
        check.text("feature", feature, _NAME, "a feature name")
        check.text("label", label, _NAME, "an output name")
        check.done()
        return self.metric(
            f"feature_{feature}",
            dimensions={
                "ExplainabilityMethod": "KernelShap",
                "Label": label,
                "ValueType": "GlobalShapValues",
            },
            **options,
        )

    def alarm(
        self,
        feature: str,
        *,
        maximum: float,
        label: str = "label0",
        actions: Sequence[cloudwatch.IAlarmAction] = (),
        **options: Any,
    ) -> cloudwatch.Alarm:
        """An alarm when `feature`'s global SHAP value rises above `maximum` (the feature
        came to drive predictions more than it should)."""
        check = Checks("ModelExplainabilityMonitor.alarm")
        check.number("maximum", maximum)
        check.done()
        return self._alarm(
            f"Alarm-{feature}-{label}",
            self.metric_attribution(feature, label=label, statistic="Maximum"),
            f"Attribution of {feature} above {maximum:g} on {self.endpoint.endpoint_name}",
            actions,
            threshold=maximum,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            **options,
        )


__all__ = [
    "BiasAnalysis",
    "BiasFacet",
    "ModelBiasMonitor",
    "ModelExplainabilityMonitor",
    "ShapAnalysis",
]
