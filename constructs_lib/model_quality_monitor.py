"""`ModelQualityMonitor`: Model Monitor's model-quality schedule for one endpoint.

The job merges the endpoint's captured predictions with ground-truth labels written
under `ground_truth_prefix` (see `constructs_lib.ground_truth` for the format) and
compares quality metrics with the baseline constraints. Limits checked here come from
the SageMaker documentation:

- Offsets, and `MaxRuntimeInSeconds` at most half the schedule's period (1800 s hourly)
  since the merge job and the analysis share it:
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-schedule.html
- Metric names per problem type and the CloudWatch namespace
  `aws/sagemaker/Endpoints/model-metrics` (dimensions Endpoint, MonitoringSchedule):
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html
- `ProblemType` is BinaryClassification, MulticlassClassification or Regression
  (CreateModelQualityJobDefinition, botocore's `MonitoringProblemType`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import _monitoring as mon
from constructs_lib._validate import Checks
from constructs_lib.data_quality_monitor import schedule_period_seconds
from constructs_lib.images import model_monitor_image
from constructs_lib.metrics import PROBLEM_TYPES, REPORT_METRICS, MetricThreshold, ProblemType
from constructs_lib.realtime_endpoint import RealtimeEndpoint
from constructs_lib.vpc_config import VpcConfig

METRIC_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
BASELINE_FIELDS = {"constraints": "ModelMetrics.ModelQuality.Constraints.S3Uri"}
"""Where a registered package records its model-quality baseline (DescribeModelPackage)."""
CFN_PROBLEM_TYPES: dict[ProblemType, str] = {
    "binary_classification": "BinaryClassification",
    "multiclass_classification": "MulticlassClassification",
    "regression": "Regression",
}


class ModelQualityMonitor(Construct):
    """Compare an endpoint's predictions with ground truth, hourly or daily.

    Creates an `AWS::SageMaker::ModelQualityJobDefinition` and a `MonitoringSchedule`
    (the schedule is `node.default_child`). Captured data is read where the endpoint's
    `data_capture` writes it; labels from `ground_truth_prefix`; the baseline
    constraints from the served package (`ModelMetrics.ModelQuality`, read at deploy
    time, as `DataQualityMonitor` does) or from `baseline_constraints_uri`. Each run
    analyses the window from `start_time_offset` to `end_time_offset` before its
    start, so labels that arrive late are still merged. The job runs network-isolated
    with inter-container encryption, on `kms_key`-encrypted volume and reports.
    Metrics (`metric`, `alarm`) go to CloudWatch.

    Example::

        quality = ModelQualityMonitor(stack, "Quality", endpoint=endpoint,
            problem_type="binary_classification", probability_attribute="0",
            probability_threshold=0.5, ground_truth_bucket=bucket,
            ground_truth_prefix="ground-truth/churn-prod/", output_bucket=bucket,
            output_prefix="monitoring/churn-prod/model-quality/",
            model_package_arn=arn, baseline_bucket=build_bucket,
            baseline_prefix="pipelines/churn/", start_time_offset="-P2D",
            end_time_offset="-P1D", schedule_expression="cron(0 6 ? * * *)", kms_key=key)
        quality.alarm(MetricThreshold(metric="auc", minimum=0.75))
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: RealtimeEndpoint,
        problem_type: ProblemType,
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
        """Create the job definition, the schedule, their role and the baseline lookup.

        :param endpoint: an instance endpoint with `data_capture` (requests and
            responses). Required.
        :param problem_type: `binary_classification`, `multiclass_classification` or
            `regression` (metrics.py's `ProblemType`). Required.
        :param ground_truth_bucket: where labels are written. Required.
        :param ground_truth_prefix: key prefix (folder, ending with '/') of the labels,
            laid out as `constructs_lib.ground_truth` writes them. Required.
        :param output_bucket: where reports go. Required.
        :param output_prefix: key prefix (folder, ending with '/') of the reports. Required.
        :param baseline_bucket: where the baseline constraints live; read access is
            limited to `baseline_prefix`. Required.
        :param baseline_prefix: key prefix (folder, ending with '/') of the baselines.
            Required.
        :param start_time_offset: start of each run's window before the run,
            `-PT<n>H` or `-P<n>D` (e.g. `-P2D`); further back than `end_time_offset`.
            Required: how late labels arrive is yours to say.
        :param end_time_offset: end of each run's window before the run (e.g. `-P1D`).
            Required.
        :param model_package_arn: the served package; its
            `ModelMetrics.ModelQuality.Constraints` is the baseline. Default none; give
            exactly one of this and `baseline_constraints_uri`.
        :param baseline_constraints_uri: `s3://` URI of a constraints file below
            `baseline_prefix` of `baseline_bucket`. Default none.
        :param inference_attribute: where the predicted label or value is in the
            captured response (CSV index such as `0`, or a JSON path). Required for
            regression and multiclass classification; for binary classification give it
            or `probability_attribute`. Default none.
        :param probability_attribute: where the positive-class probability is in the
            captured response (binary classification only; needed for auc). Default none.
        :param probability_threshold: probability from which the prediction counts as
            positive, 0 to 1 (with `probability_attribute`). Default none (the container's
            0.5).
        :param schedule_expression: default hourly, `cron(0 * ? * * *)`; also daily
            `cron(0 H ? * * *)` or every N hours `cron(0 H/N ? * * *)`.
        :param instance_type: default ml.m5.large.
        :param volume_size_in_gb: default 20; 1 to 16384.
        :param max_runtime: default 30 minutes; at most half the schedule's period (the
            merge job and the analysis share it).
        :param kms_key: encrypts the job's volume and reports. Default none.
        :param vpc: subnets and security groups the job runs in. Default none.
        :param image_uri: default: SageMaker's Model Monitor analyzer for the region
            (`images.model_monitor_image`).
        """
        super().__init__(scope, construct_id)
        runtime = max_runtime if max_runtime is not None else Duration.minutes(30)
        props = dict(locals())
        self._check(props, runtime)
        stack = Stack.of(self)
        self.endpoint = endpoint
        self.problem_type: ProblemType = problem_type
        self.schedule_name = mon.schedule_name(endpoint.endpoint_name, "model-quality")
        period = schedule_period_seconds(schedule_expression) or 3600
        self._period = Duration.seconds(period)
        assert endpoint.data_capture is not None

        if model_package_arn is not None:
            self.baseline = mon.package_lookup(
                self, model_package_arn, list(BASELINE_FIELDS.values())
            )
            constraints = self.baseline.get_response_field(BASELINE_FIELDS["constraints"])
        else:
            assert baseline_constraints_uri is not None
            constraints = baseline_constraints_uri
        self.role = mon.monitor_role(
            self,
            description=f"Runs model-quality monitoring for endpoint {endpoint.endpoint_name}",
            capture=endpoint.data_capture,
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            reads=[
                (
                    ground_truth_bucket,
                    ground_truth_prefix,
                    "Labels are written per hour under the ground-truth prefix.",
                ),
                (
                    baseline_bucket,
                    baseline_prefix,
                    "Baselines are written per pipeline execution under the pipeline's prefix.",
                ),
            ],
            kms_key=kms_key,
            metric_namespace=METRIC_NAMESPACE,
            vpc=vpc,
        )
        settings = mon.job_settings(
            role=self.role,
            output_bucket=output_bucket,
            output_prefix=output_prefix,
            instance_type=instance_type,
            volume_size_in_gb=volume_size_in_gb,
            max_runtime=runtime,
            kms_key=kms_key,
            vpc=vpc,
            network_isolation=True,
        )
        job: dict[str, Any] = dict(
            role_arn=settings["role_arn"],
            job_resources=settings["job_resources"],
            network_config=settings["network_config"],
            stopping_condition=settings["stopping_condition"],
            model_quality_job_output_config=settings["output"],
            model_quality_app_specification={
                "image_uri": image_uri or model_monitor_image(stack.region),
                "problem_type": CFN_PROBLEM_TYPES[problem_type],
                "environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            model_quality_baseline_config={"constraints_resource": {"s3_uri": constraints}},
            model_quality_job_input={
                "endpoint_input": {
                    "endpoint_name": endpoint.endpoint_name,
                    "local_path": mon.LOCAL_INPUT,
                    "s3_input_mode": "File",
                    "s3_data_distribution_type": "FullyReplicated",
                    "inference_attribute": inference_attribute,
                    "probability_attribute": probability_attribute,
                    "probability_threshold_attribute": probability_threshold,
                    "start_time_offset": start_time_offset,
                    "end_time_offset": end_time_offset,
                },
                "ground_truth_s3_input": {
                    "s3_uri": f"s3://{ground_truth_bucket.bucket_name}/"
                    f"{ground_truth_prefix.rstrip('/')}"
                },
            },
        )
        self.job_definition_name = mon.content_name(
            stack, endpoint.endpoint_name, "mq", job, model_package_arn or ""
        )
        self.job_definition = sagemaker.CfnModelQualityJobDefinition(
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
                monitoring_type="ModelQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=schedule_expression
                ),
            ),
        )
        # SageMaker checks both exist when the schedule is created, and both must outlive it.
        self.resource.node.add_dependency(self.job_definition)
        self.resource.node.add_dependency(endpoint.resource)

    @staticmethod
    def _check(props: dict[str, Any], runtime: Any) -> None:
        check = Checks("ModelQualityMonitor")
        mon.check_endpoint(check, props["endpoint"])
        problem_ok = check.one_of("problem_type", props["problem_type"], PROBLEM_TYPES)
        check.has(
            "ground_truth_bucket", props["ground_truth_bucket"], "bucket_name", "an s3.IBucket"
        )
        check.key_prefix("ground_truth_prefix", props["ground_truth_prefix"])
        mon.check_output_and_job(check, props)
        mon.check_baseline(
            check,
            model_package_arn=props["model_package_arn"],
            baseline_constraints_uri=props["baseline_constraints_uri"],
            baseline_bucket=props["baseline_bucket"],
            baseline_prefix=props["baseline_prefix"],
        )
        mon.check_offsets(check, props["start_time_offset"], props["end_time_offset"])
        mon.check_schedule(check, props["schedule_expression"], runtime, merges_ground_truth=True)
        for prop in ("inference_attribute", "probability_attribute"):
            if props[prop] is not None:
                check.text(prop, props[prop], allowed="a CSV index or a JSON path, or None")
        if props["probability_threshold"] is not None:
            check.number("probability_threshold", props["probability_threshold"], 0, 1)
        if problem_ok:
            _check_attributes(check, props)
        check.done()

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A model-quality metric of this schedule (`auc`, `accuracy`, `rmse`...;
        dimensions Endpoint, MonitoringSchedule).

        Defaults: Average over the schedule's period. `options` takes any
        `cloudwatch.MetricOptions` field (statistic, period, label, color, ...).
        """
        return mon.schedule_metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            endpoint_name=self.endpoint.endpoint_name,
            schedule=self.schedule_name,
            period=self._period,
            **options,
        )

    def alarm(
        self,
        threshold: MetricThreshold,
        *,
        actions: Sequence[cloudwatch.IAlarmAction] = (),
        **options: Any,
    ) -> cloudwatch.Alarm:
        """An alarm when `threshold.metric` falls below its minimum (auc, accuracy...) or
        rises above its maximum (rmse, mae...), over one schedule period.

        A period without data (no labels yet) does not alarm. `actions` run when it
        fires (e.g. `cw_actions.SnsAction(topic)`). `options` takes any
        `cloudwatch.CreateAlarmOptions` field and overrides the defaults.
        """
        check = Checks("ModelQualityMonitor.alarm")
        if check.instance("threshold", threshold, MetricThreshold, "a MetricThreshold"):
            known = REPORT_METRICS[self.problem_type]
            if threshold.metric not in known:
                check.fail(
                    "threshold.metric",
                    threshold.metric,
                    f"a {self.problem_type} metric: {', '.join(sorted(known))}",
                )
        check.done()
        low = threshold.direction == "higher"
        name = threshold.metric
        alarm = self.metric(name, statistic="Minimum" if low else "Maximum").create_alarm(
            self,
            f"Alarm-{name}",
            **{
                "alarm_description": f"Model quality {name} {'below' if low else 'above'}"
                f" {threshold.bound:g} on {self.endpoint.endpoint_name}",
                "threshold": threshold.bound,
                "evaluation_periods": 1,
                "comparison_operator": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
                if low
                else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                "treat_missing_data": cloudwatch.TreatMissingData.NOT_BREACHING,
                **options,
            },
        )
        return mon.with_actions(alarm, actions)

    def alarms(
        self,
        thresholds: Sequence[MetricThreshold],
        *,
        actions: Sequence[cloudwatch.IAlarmAction] = (),
    ) -> list[cloudwatch.Alarm]:
        """One `alarm` per threshold, each running `actions`."""
        return [self.alarm(t, actions=actions) for t in thresholds]


def _check_attributes(check: Checks, props: dict[str, Any]) -> None:
    """Which attributes each problem type needs to find the prediction."""
    problem = props["problem_type"]
    inference, probability = props["inference_attribute"], props["probability_attribute"]
    threshold = props["probability_threshold"]
    if problem == "binary_classification":
        if inference is None and probability is None:
            check.fail(
                "inference_attribute/probability_attribute",
                None,
                "at least one with binary_classification: where the predicted label or the"
                " positive-class probability is in the captured response",
            )
        if threshold is not None and probability is None:
            check.fail(
                "probability_threshold",
                threshold,
                "None without probability_attribute (the threshold applies to that probability)",
            )
        return
    if inference is None:
        check.fail(
            "inference_attribute",
            None,
            f"where the prediction is in the captured response, with {problem}",
        )
    for prop, value in (
        ("probability_attribute", probability),
        ("probability_threshold", threshold),
    ):
        if value is not None:
            check.fail(prop, value, f"None with {problem} (binary_classification only)")
