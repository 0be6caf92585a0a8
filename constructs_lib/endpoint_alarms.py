"""`EndpointAlarms`: alarms, an encrypted notification topic and a dashboard for an endpoint.

Serverless endpoints publish no `CPUUtilization`; they publish `MemoryUtilization` and
`ServerlessConcurrentExecutionsUtilization` instead, so the alarms follow the variant:
https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_lib._validate import Checks, Shown
from constructs_lib.data_quality_monitor import _FEATURE, _FEATURE_RULE, DataQualityMonitor
from constructs_lib.notification_topic import NotificationTopic
from constructs_lib.realtime_endpoint import RealtimeEndpoint

MAX_MONITOR_METRICS = 20
"""Metrics one monitor's graph shows (CloudWatch graphs hold a few dozen lines)."""


class Monitor(Protocol):
    """What the dashboard reads of a Model Monitor schedule: `DataQualityMonitor`,
    `ModelQualityMonitor`, `ModelBiasMonitor`, `ModelExplainabilityMonitor`."""

    schedule_name: str

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A metric the schedule publishes."""
        ...


DEFAULT_CPU_UTILIZATION_PERCENT = 80
"""CPU alarm threshold of instance endpoints when `cpu_utilization_percent` is None."""
DEFAULT_CONCURRENCY_UTILIZATION_PERCENT = 80
"""Concurrency alarm threshold of serverless endpoints when
`concurrency_utilization_percent` is None."""


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """When an endpoint is unhealthy. Each alarm fires after `evaluation_minutes` bad minutes.

    The CPU alarm exists only on instance endpoints and the concurrency alarm only on
    serverless ones; leave the other one None (an explicit value for the wrong kind is
    refused by `EndpointAlarms`).
    """

    model_latency_p99_ms: int = 500
    """p99 model latency in milliseconds, at least 1. Default 500."""
    errors_5xx_per_minute: int = 1
    """Model errors (5xx) a minute, at least 1. Default 1."""
    errors_4xx_per_minute: int = 20
    """Rejected requests (4xx) a minute, at least 1. Default 20."""
    cpu_utilization_percent: int | None = None
    """CPU in percent, 100 per core, at least 1. Instance endpoints only. Default none:
    80 on instance endpoints, no alarm on serverless ones."""
    memory_utilization_percent: int = 80
    """Memory in percent, 1 to 100. Default 80."""
    concurrency_utilization_percent: int | None = None
    """Concurrent executions as a percentage of max_concurrency, 1 to 100. Serverless
    endpoints only. Default none: 80 on serverless endpoints, no alarm on instance ones."""
    evaluation_minutes: int = 3
    """Consecutive breaching minutes before an alarm fires, 1 to 60. Default 3."""

    def __post_init__(self) -> None:
        check = Checks("AlarmThresholds")
        check.integer("model_latency_p99_ms", self.model_latency_p99_ms, 1)
        check.integer("errors_5xx_per_minute", self.errors_5xx_per_minute, 1)
        check.integer("errors_4xx_per_minute", self.errors_4xx_per_minute, 1)
        if self.cpu_utilization_percent is not None:
            check.integer("cpu_utilization_percent", self.cpu_utilization_percent, 1)
        check.integer("memory_utilization_percent", self.memory_utilization_percent, 1, 100)
        if self.concurrency_utilization_percent is not None:
            check.integer(
                "concurrency_utilization_percent", self.concurrency_utilization_percent, 1, 100
            )
        check.integer("evaluation_minutes", self.evaluation_minutes, 1, 60)
        check.done()


class EndpointAlarms(Construct):
    """Watch an endpoint (and its data-quality monitor) and tell people when it breaks.

    Creates a KMS-encrypted, TLS-only SNS topic, alarms on 5xx and 4xx errors, model
    latency and memory, on CPU (instance endpoints) or concurrency (serverless ones),
    and on feature drift when a monitor and features are given, all notifying the topic
    (alarm and OK), and a CloudWatch dashboard, which is `node.default_child`. The 5xx
    and latency alarms are also the endpoint's auto-rollback alarms: an update that
    trips them is undone. `add_monitor` adds another monitor's alarms (notifying the
    topic) and a dashboard row: its violations (alarm states) and its metrics, one row
    per monitor type.

    Example::

        alarms = EndpointAlarms(stack, "Alarms", endpoint=endpoint, topic_key=key,
                                thresholds=AlarmThresholds(model_latency_p99_ms=300))
        alarms.add_monitor(quality, alarms=quality.alarms(thresholds),
                           metrics=["accuracy", "auc"])
        alarms.topic.add_subscription(...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: RealtimeEndpoint,
        topic_key: kms.IKey,
        thresholds: AlarmThresholds | None = None,
        monitor: DataQualityMonitor | None = None,
        drift_features: Sequence[str] = (),
        drift_threshold: float = 0.2,
        dashboard_name: str | None = None,
    ) -> None:
        """Create the topic, alarms and dashboard.

        :param endpoint: the endpoint to watch. Required.
        :param topic_key: encrypts the topic; CloudWatch is allowed to use it to
            publish. Required.
        :param thresholds: default `AlarmThresholds()`.
        :param monitor: the endpoint's `DataQualityMonitor`. Default none: no drift
            alarms or monitor widgets.
        :param drift_features: features to alarm on when their drift passes
            `drift_threshold`. Default none. Needs `monitor`.
        :param drift_threshold: drift (distance) above which a feature alarms, above 0
            up to 1. Default 0.2.
        :param dashboard_name: default: generated by CloudFormation.
        """
        super().__init__(scope, construct_id)
        limits = thresholds if thresholds is not None else AlarmThresholds()
        self._check(
            endpoint, topic_key, limits, monitor, drift_features, drift_threshold, dashboard_name
        )
        self.endpoint = endpoint
        self.thresholds = limits
        self.topic = NotificationTopic(
            self,
            "Topic",
            key=topic_key,
            display_name=f"Alarms for SageMaker endpoint {endpoint.endpoint_name}",
        ).topic
        self._periods = limits.evaluation_minutes
        self.monitor_alarms: list[cloudwatch.IAlarm] = []
        """The alarms given to `add_monitor`, in order."""

        self.errors_5xx = self._alarm(
            "Errors5xx",
            endpoint.metric_invocation_5xx_errors(),
            limits.errors_5xx_per_minute,
            f"{limits.errors_5xx_per_minute}+ model errors (5xx) a minute",
        )
        self.model_latency = self._alarm(
            "ModelLatency",
            endpoint.metric_model_latency(),
            limits.model_latency_p99_ms * 1000,  # ModelLatency is in microseconds
            f"p99 model latency at or above {limits.model_latency_p99_ms} ms",
        )
        self.errors_4xx = self._alarm(
            "Errors4xx",
            endpoint.metric_invocation_4xx_errors(),
            limits.errors_4xx_per_minute,
            f"{limits.errors_4xx_per_minute}+ rejected requests (4xx) a minute",
        )
        self.memory = self._alarm(
            "Memory",
            endpoint.metric_memory_utilization(),
            limits.memory_utilization_percent,
            f"memory at or above {limits.memory_utilization_percent}%",
        )
        self.cpu: cloudwatch.Alarm | None = None
        self.concurrency: cloudwatch.Alarm | None = None
        if endpoint.serverless:
            percent = (
                limits.concurrency_utilization_percent or DEFAULT_CONCURRENCY_UTILIZATION_PERCENT
            )
            self.concurrency = self._alarm(
                "Concurrency",
                endpoint.metric_concurrency_utilization(),
                percent / 100,  # the metric is a fraction of max_concurrency
                f"concurrency at or above {percent}% of max_concurrency",
            )
        else:
            percent = limits.cpu_utilization_percent or DEFAULT_CPU_UTILIZATION_PERCENT
            self.cpu = self._alarm(
                "Cpu",
                endpoint.metric_cpu_utilization(),
                percent,
                f"CPU at or above {percent}%",
            )
        endpoint.add_rollback_alarm(self.errors_5xx)
        endpoint.add_rollback_alarm(self.model_latency)

        self.drift = monitor.drift_alarms(drift_features, drift_threshold) if monitor else []
        for drift in self.drift:
            drift.add_alarm_action(actions.SnsAction(self.topic))
            drift.add_ok_action(actions.SnsAction(self.topic))

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=Duration.hours(6)
        )
        # The primary resource (`node.default_child`); the id stays "Dashboard" so an
        # update keeps the existing dashboard and its URL.
        self.node.default_child = self.dashboard
        self._widgets(monitor, drift_features)

    @staticmethod
    def _check(
        endpoint: object,
        topic_key: object,
        limits: object,
        monitor: object,
        drift_features: object,
        drift_threshold: object,
        dashboard_name: object,
    ) -> None:
        check = Checks("EndpointAlarms")
        endpoint_ok = check.instance("endpoint", endpoint, RealtimeEndpoint, "a RealtimeEndpoint")
        check.has("topic_key", topic_key, "key_arn", "a kms.IKey")
        limits_ok = check.instance(
            "thresholds", limits, AlarmThresholds, "an AlarmThresholds or None"
        )
        if monitor is not None:
            check.instance("monitor", monitor, DataQualityMonitor, "a DataQualityMonitor or None")
        features_ok = check.strings(
            "drift_features",
            drift_features,
            _FEATURE,
            _FEATURE_RULE,
        )
        check.number("drift_threshold", drift_threshold, 0, 1, low_open=True)
        if dashboard_name is not None:
            check.text("dashboard_name", dashboard_name)
        check.done()
        assert isinstance(endpoint, RealtimeEndpoint) and isinstance(limits, AlarmThresholds)
        if features_ok and drift_features and monitor is None:
            check.fail(
                "drift_features",
                list(drift_features),  # type: ignore[call-overload]
                "none without a monitor (drift metrics come from a DataQualityMonitor)",
            )
        if isinstance(monitor, DataQualityMonitor) and monitor.endpoint is not endpoint:
            check.fail(
                "monitor",
                Shown(f"a DataQualityMonitor of endpoint {monitor.endpoint.endpoint_name!r}"),
                f"a DataQualityMonitor of this endpoint ({endpoint.endpoint_name!r})",
            )
        if endpoint_ok and limits_ok:
            EndpointAlarms._check_kind(check, endpoint, limits)
        check.done()

    @staticmethod
    def _check_kind(check: Checks, endpoint: RealtimeEndpoint, limits: AlarmThresholds) -> None:
        """Thresholds for metrics the endpoint publishes, and a baking period long
        enough for the rollback alarms to fire."""
        if endpoint.serverless and limits.cpu_utilization_percent is not None:
            check.fail(
                "thresholds",
                Shown(f"cpu_utilization_percent={limits.cpu_utilization_percent}"),
                "cpu_utilization_percent=None for a serverless endpoint (serverless endpoints"
                " publish no CPUUtilization; use concurrency_utilization_percent)",
            )
        if not endpoint.serverless and limits.concurrency_utilization_percent is not None:
            check.fail(
                "thresholds",
                Shown(f"concurrency_utilization_percent={limits.concurrency_utilization_percent}"),
                "concurrency_utilization_percent=None for an instance endpoint (only serverless"
                " endpoints publish ServerlessConcurrentExecutionsUtilization)",
            )
        window = limits.evaluation_minutes * 60
        wait = endpoint.traffic_shift.wait_interval.to_seconds()
        if wait < window:
            check.fail(
                "thresholds",
                Shown(f"evaluation_minutes={limits.evaluation_minutes} ({window} s of data)"),
                f"at most the endpoint's traffic_shift wait_interval ({int(wait)} s), or the"
                " rollback alarms cannot fire before the baking period ends",
            )

    def _alarm(
        self, alarm_id: str, metric: cloudwatch.Metric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        created = metric.create_alarm(
            self,
            alarm_id,
            alarm_description=f"{self.endpoint.endpoint_name}: {description}",
            threshold=threshold,
            evaluation_periods=self._periods,
            datapoints_to_alarm=self._periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        created.add_alarm_action(actions.SnsAction(self.topic))
        created.add_ok_action(actions.SnsAction(self.topic))
        return created

    def _widgets(self, monitor: DataQualityMonitor | None, drift_features: Sequence[str]) -> None:
        endpoint = self.endpoint
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# SageMaker endpoint `{endpoint.endpoint_name}`\nAlarms notify the"
                " SNS topic; 5xx and latency alarms also roll back deployments.",
                width=24,
                height=2,
            )
        )
        invocations = [endpoint.metric_invocations()]
        if endpoint.serverless:
            capacity = cloudwatch.GraphWidget(
                title="Memory (%) and concurrency (fraction of max)",
                left=[endpoint.metric_memory_utilization()],
                right=[endpoint.metric_concurrency_utilization()],
                width=12,
            )
            latency = [
                endpoint.metric_model_latency(),
                endpoint.metric_overhead_latency(),
                endpoint.metric_model_setup_time(),
            ]
        else:
            invocations.append(endpoint.metric_invocations_per_instance())
            capacity = cloudwatch.GraphWidget(
                title="CPU and memory (%)",
                left=[endpoint.metric_cpu_utilization(), endpoint.metric_memory_utilization()],
                width=12,
            )
            latency = [endpoint.metric_model_latency(), endpoint.metric_overhead_latency()]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Invocations", left=invocations, width=8),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    endpoint.metric_invocation_5xx_errors(),
                    endpoint.metric_invocation_4xx_errors(),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(title="Latency (microseconds)", left=latency, width=8),
        )
        self.dashboard.add_widgets(
            capacity, cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12)
        )
        if monitor is not None and drift_features:
            self._monitor_row(
                "Data quality",
                self.drift,
                [monitor.metric_feature_drift(f) for f in drift_features],
                graph_title="Feature drift from baseline",
            )

    def add_monitor(
        self,
        monitor: Monitor,
        *,
        alarms: Sequence[cloudwatch.IAlarm] = (),
        metrics: Sequence[str | cloudwatch.IMetric] = (),
        title: str | None = None,
    ) -> None:
        """Watch another monitor of this endpoint: its alarms notify the topic (when they
        fire and when they recover) and the dashboard gains a row with the alarms'
        states (the monitor's violations) and a graph of its metrics.

        :param monitor: a monitor of this endpoint (`ModelQualityMonitor`,
            `ModelBiasMonitor`, ...; anything with `schedule_name` and `metric`). Required.
        :param alarms: the monitor's alarms, created without actions (e.g.
            `quality.alarms(thresholds)`). Default none.
        :param metrics: up to 20 metric names of the monitor (`auc`, `rmse`...) or
            metrics. Default none: no graph.
        :param title: the row's name. Default: from the monitor's class
            (`ModelQualityMonitor` -> "Model quality").
        """
        check = Checks("EndpointAlarms.add_monitor")
        check.has("monitor", monitor, "schedule_name", "a monitor (ModelQualityMonitor, ...)")
        watched = getattr(monitor, "endpoint", self.endpoint)
        if watched is not self.endpoint:
            check.fail(
                "monitor",
                Shown(f"a monitor of endpoint {getattr(watched, 'endpoint_name', watched)!r}"),
                f"a monitor of this endpoint ({self.endpoint.endpoint_name!r})",
            )
        if isinstance(alarms, str) or not isinstance(alarms, Sequence):
            check.fail("alarms", alarms, "a list of cloudwatch.IAlarm")
            alarms = ()
        for index, alarm in enumerate(alarms):
            check.has(f"alarms[{index}]", alarm, "alarm_arn", "a cloudwatch.IAlarm")
        if isinstance(metrics, str) or not isinstance(metrics, Sequence):
            check.fail("metrics", metrics, f"a list of up to {MAX_MONITOR_METRICS} metric names")
            metrics = ()
        elif len(metrics) > MAX_MONITOR_METRICS:
            check.fail(
                "metrics", Shown(f"{len(metrics)} metrics"), f"at most {MAX_MONITOR_METRICS}"
            )
        for index, metric in enumerate(metrics):
            if not isinstance(metric, str):
                check.has(f"metrics[{index}]", metric, "to_metric_config", "a name or IMetric")
        if title is not None:
            check.text("title", title, allowed="a row title")
        check.done()
        for alarm in alarms:
            alarm.add_alarm_action(actions.SnsAction(self.topic))  # type: ignore[attr-defined]
            alarm.add_ok_action(actions.SnsAction(self.topic))  # type: ignore[attr-defined]
        self.monitor_alarms.extend(alarms)
        shown = [monitor.metric(m) if isinstance(m, str) else m for m in metrics]
        self._monitor_row(title or _monitor_title(monitor), list(alarms), shown)

    def _monitor_row(
        self,
        title: str,
        alarms: Sequence[cloudwatch.IAlarm],
        metrics: Sequence[cloudwatch.IMetric],
        *,
        graph_title: str | None = None,
    ) -> None:
        """One dashboard row for a monitor: its violations (alarm states), its metrics."""
        widgets: list[cloudwatch.IWidget] = []
        if alarms:
            widgets.append(
                cloudwatch.AlarmStatusWidget(
                    title=f"{title}: violations", alarms=list(alarms), width=8
                )
            )
        if metrics:
            widgets.append(
                cloudwatch.GraphWidget(
                    title=graph_title or f"{title} metrics",
                    left=list(metrics),
                    width=16 if alarms else 24,
                )
            )
        if widgets:
            self.dashboard.add_widgets(*widgets)

    @property
    def alarms(self) -> list[cloudwatch.IAlarm]:
        """Every alarm this construct created, then those given to `add_monitor`."""
        created = [self.errors_5xx, self.model_latency, self.errors_4xx, self.memory]
        created += [a for a in (self.cpu, self.concurrency) if a is not None]
        return [*created, *self.drift, *self.monitor_alarms]


def _monitor_title(monitor: object) -> str:
    """`ModelQualityMonitor` -> "Model quality"."""
    name = type(monitor).__name__.removesuffix("Monitor") or "Monitor"
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)
    return " ".join(words).capitalize() if words else name
