"""What the approval function decides and does for one event; AWS clients are injected.

Per approval status of a package in the configured group:

- ``PendingManualApproval``: read the candidate's evaluation report (the S3 object its
  ``ModelMetrics.ModelQuality.Statistics`` names), check it against the thresholds and
  compare it with the champion (the latest Approved package of the group) on the primary
  metric. Policy ``manual``: publish the summary, leave it pending. Policy ``auto``:
  approve it when it clears every threshold and beats the champion (or there is none),
  reject it when a metric is below its minimum or above its maximum, otherwise leave it
  pending and notify. The champion comparison follows the primary metric's direction
  (for rmse, beating means lower). The reason goes in ``ApprovalDescription``.
- ``Approved``: open a pull request that pins this model (``PROMOTION_MODEL``, default the
  group) to this version in the target environment of the promotion manifest, changing
  only ``models.<model>.<environment>`` (or, with no repository configured, publish that
  instruction).
- ``Rejected``: publish a notice with the package's ``ApprovalDescription``.

Retries are harmless: the package is re-described first and left alone once its status
is no longer the one the event reports (a repeat while a package stays pending repeats
only the notification); the promotion branch name is derived from the package, so a
retried ``Approved`` event finds its branch and pull request instead of opening new ones. ``Approved`` and ``Rejected``
events that only report other fields changing (``UpdatedModelPackageFields`` without
``ModelApprovalStatus``) are ignored, so editing an old version's metadata promotes
nothing.

Failure handling (principle 7, nothing is lost):

- Malformed events, foreign events (other source, detail type or group) and promotion
  failures this function foresees (GitHub still failing after in-process retries or when
  too little of the invocation's time is left for another attempt, GitHub
  refusing a call, no token in the secret, a manifest without the model or environment)
  are logged with the event id and sent to the dead-letter queue with the reason; then
  the handler returns normally. A GitHub rate limit whose wait does not fit in the
  invocation is dead-lettered as ``github-rate-limited`` with the message attribute
  ``retry_after_epoch`` (when GitHub allows the call again): replay the event after that
  time. Re-raising would make Lambda retry the event twice more (each time with its own
  GitHub retries) and then write a second copy through the function's dead-letter
  queue.
- Anything else (AWS API errors such as AccessDenied, bugs) propagates: Lambda retries
  the asynchronous invocation, then its dead-letter queue (the same queue) keeps the
  event, with Lambda's `ErrorMessage` attribute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from .config import Config, Threshold
from .errors import DeadLetter, ForeignEvent, PromotionFailed
from .evaluate import Champion, Evaluation, Metrics, evaluate, metric_values
from .events import ModelPackageStateChange, ModelPackageStateChangeEvent, parse_event
from .github import GitHubClient, PullRequest
from .log import logger
from .manifest import ManifestError, set_version

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
DESCRIPTION_LIMIT = 1024  # UpdateModelPackage ApprovalDescription maximum
SUBJECT_LIMIT = 100  # SNS Subject maximum
ATTRIBUTE_LIMIT = 1024  # kept short so the reason stays readable in the console
DLQ_ORIGIN = "model-approval-function"
_MISSING_OBJECT = {"NoSuchKey", "NoSuchBucket", "404"}

Result = dict[str, Any]


@dataclass(frozen=True)
class Clients:
    """boto3 clients the function uses (real ones in Lambda, moto-backed in tests)."""

    sagemaker: Any
    s3: Any
    sns: Any
    sqs: Any
    secretsmanager: Any


# -- reading the registry and the reports -------------------------------------------------


def read_metrics(s3: Any, package: Mapping[str, Any]) -> Metrics:
    """Read the package's model quality report from S3.

    A missing report or object, invalid JSON or a report without metrics is returned as
    an error (the candidate then waits for a person); other S3 errors such as
    AccessDenied propagate.
    """
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return Metrics(None, error="the package has no ModelMetrics.ModelQuality.Statistics")
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        return Metrics(None, uri, f"the report location {uri!r} is not an s3:// URI")
    try:
        body = s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_OBJECT:
            return Metrics(None, uri, f"the report {uri} does not exist")
        raise
    try:
        values = metric_values(json.loads(body))
    except ValueError:
        return Metrics(None, uri, f"the report {uri} is not valid JSON")
    if not values:
        return Metrics(None, uri, f"the report {uri} contains no metrics")
    return Metrics(values, uri)


def find_champion(sagemaker: Any, s3: Any, group: str, exclude_arn: str) -> Champion | None:
    """The latest Approved package of `group` other than `exclude_arn`, with its metrics."""
    listing = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus=APPROVED,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=2,
    )
    for summary in listing.get("ModelPackageSummaryList", []):
        if summary["ModelPackageArn"] == exclude_arn:
            continue
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        return Champion(
            version=int(package.get("ModelPackageVersion", 0)),
            arn=summary["ModelPackageArn"],
            metrics=read_metrics(s3, package),
        )
    return None


# -- outputs ------------------------------------------------------------------------------


def publish(sns: Any, topic_arn: str, subject: str, message: str, **attributes: str) -> None:
    """Publish a notification; attributes let subscribers filter (e.g. on `kind`)."""
    sns.publish(
        TopicArn=topic_arn,
        Subject=subject[:SUBJECT_LIMIT],
        Message=message,
        MessageAttributes={
            key: {"DataType": "String", "StringValue": value}
            for key, value in attributes.items()
            if value
        },
    )


def dead_letter(
    sqs: Any, queue_url: str, event: Any, error: DeadLetter, event_id: str | None
) -> None:
    """Send the original event to the DLQ; the reason travels in message attributes."""
    body = event if isinstance(event, str) else json.dumps(event, default=str)
    attributes = {
        "reason": error.reason[:ATTRIBUTE_LIMIT],
        "category": error.category,
        "origin": DLQ_ORIGIN,
        "event_id": event_id or "",
        **error.attributes,
    }
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body or json.dumps(body),
        MessageAttributes={
            key: {"DataType": "String", "StringValue": value}
            for key, value in attributes.items()
            if value
        },
    )


def _bar(threshold: Threshold | None) -> str:
    return "" if threshold is None else f"{threshold.kind} {threshold.limit:.4f}"


def _metrics_table(metrics: Metrics, thresholds: Mapping[str, Threshold]) -> list[str]:
    if metrics.values is None:
        return [f"  (unavailable: {metrics.error})"]
    lines = []
    for name in sorted(set(metrics.values) | set(thresholds)):
        value = metrics.values.get(name)
        threshold = thresholds.get(name)
        shown = "missing" if value is None else f"{value:.4f}"
        bar = f"  ({_bar(threshold)})" if threshold is not None else ""
        verdict = ""
        if threshold is not None and value is not None:
            fail = "BELOW" if threshold.direction == "higher" else "ABOVE"
            verdict = "  ok" if threshold.passes(value) else f"  {fail}"
        lines.append(f"  {name:<24} {shown}{bar}{verdict}")
    return lines


def _summary(
    detail: ModelPackageStateChange,
    cfg: Config,
    metrics: Metrics,
    champion: Champion | None,
    evaluation: Evaluation,
    action: str,
) -> str:
    lines = [
        f"Model package {detail.model_package_group_name} v{detail.model_package_version}",
        f"ARN: {detail.model_package_arn}",
        f"Approval policy: {cfg.approval_policy}",
        f"Verdict: {evaluation.verdict} - {evaluation.reason}",
        f"Action: {action}",
        "",
        f"Metrics ({metrics.source or 'no report'}):",
        *_metrics_table(metrics, cfg.quality_thresholds),
        "",
    ]
    if champion is None:
        lines.append("Champion: none (no Approved package in the group)")
    else:
        value = (champion.metrics.values or {}).get(cfg.primary_metric)
        shown = "unknown" if value is None else f"{value:.4f}"
        lines.append(
            f"Champion: v{champion.version} {cfg.primary_metric} {shown}"
            f" ({cfg.primary_direction} is better; {champion.arn})"
        )
    return "\n".join(lines)


# -- per-status handling ------------------------------------------------------------------


def on_pending(detail: ModelPackageStateChange, cfg: Config, clients: Clients) -> Result:
    """Evaluate a candidate; notify (manual) or approve / reject / hold (auto)."""
    arn = detail.model_package_arn
    package = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    current = package.get("ModelApprovalStatus")
    if current != PENDING:
        logger.info("package is no longer pending; nothing to do", extra={"current": current})
        return {"action": "none", "reason": f"package is {current}, no longer {PENDING}"}

    metrics = read_metrics(clients.s3, package)
    champion = find_champion(clients.sagemaker, clients.s3, cfg.model_package_group_name, arn)
    evaluation = evaluate(
        metrics,
        cfg.quality_thresholds,
        cfg.primary_metric,
        champion,
        direction=cfg.primary_direction,
    )
    logger.info(
        "candidate evaluated",
        extra={
            "verdict": evaluation.verdict,
            "reason": evaluation.reason,
            "metrics": dict(metrics.values or {}),
            "champion_version": champion.version if champion else None,
        },
    )
    name = f"{detail.model_package_group_name} v{detail.model_package_version}"

    if cfg.approval_policy == "auto" and evaluation.verdict != "hold":
        status = APPROVED if evaluation.verdict == "approve" else REJECTED
        clients.sagemaker.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus=status,
            ApprovalDescription=f"auto: {evaluation.reason}"[:DESCRIPTION_LIMIT],
        )
        logger.info("approval status updated", extra={"status": status})
        return {
            "action": status.lower(),
            "verdict": evaluation.verdict,
            "reason": evaluation.reason,
        }

    if cfg.approval_policy == "manual":
        action = f"left {PENDING} for a reviewer"
        subject = f"{name} awaits approval (suggested: {evaluation.verdict})"
    else:
        action = f"left {PENDING}: needs a person to decide"
        subject = f"{name} needs a manual decision"
    publish(
        clients.sns,
        cfg.notification_topic_arn,
        subject,
        _summary(detail, cfg, metrics, champion, evaluation, action),
        kind="candidate",
        verdict=evaluation.verdict,
        model_package_group=detail.model_package_group_name,
        model_package_version=str(detail.model_package_version),
    )
    return {"action": "notified", "verdict": evaluation.verdict, "reason": evaluation.reason}


def on_rejected(detail: ModelPackageStateChange, cfg: Config, clients: Clients) -> Result:
    """Tell people a version was rejected, and why (the package's ApprovalDescription).

    The package is re-described first: a retried or late Rejected event for a package
    that has since been approved (or reset to pending) sends nothing.
    """
    arn = detail.model_package_arn
    package = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    current = package.get("ModelApprovalStatus")
    if current != REJECTED:
        logger.info("package is no longer rejected; nothing to do", extra={"current": current})
        return {"action": "none", "reason": f"package is {current}, no longer {REJECTED}"}
    name = f"{detail.model_package_group_name} v{detail.model_package_version}"
    reason = package.get("ApprovalDescription") or "(no approval description)"
    publish(
        clients.sns,
        cfg.notification_topic_arn,
        f"{name} was rejected",
        f"Model package {name} was rejected.\nReason: {reason}\nARN: {arn}",
        kind="rejected",
        model_package_group=detail.model_package_group_name,
        model_package_version=str(detail.model_package_version),
    )
    return {"action": "notified", "reason": reason}


def github_token(secretsmanager: Any, secret_arn: str) -> str:
    """The token in the secret: the secret string itself, or its JSON `token` field."""
    value = (secretsmanager.get_secret_value(SecretId=secret_arn).get("SecretString") or "").strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("token") or "").strip()
        except (ValueError, AttributeError):
            value = ""
    if not value:
        raise PromotionFailed(
            f"secret {secret_arn} holds no GitHub token; store the token itself or"
            ' JSON {"token": "..."}'
        )
    return value


def branch_name(model: str, version: int, environment: str) -> str:
    """The promotion branch: derived from the model and package, so retries reuse it."""
    return f"promote/{model}-v{version}-{environment}"


def _title(cfg: Config, version: int) -> str:
    return f"Promote {cfg.model} v{version} to {cfg.promotion_target_environment}"


def _package(detail: ModelPackageStateChange, cfg: Config) -> str:
    """How the pull request names the package: the model, and the group when it differs."""
    name = f"{cfg.model} v{detail.model_package_version}"
    if cfg.model == detail.model_package_group_name:
        return name
    return f"{name} (model package group {detail.model_package_group_name})"


def _pull_body(
    detail: ModelPackageStateChange,
    cfg: Config,
    metrics: Metrics,
    approval: str | None,
    event_id: str | None,
) -> str:
    env = cfg.promotion_target_environment
    rows = []
    for name in sorted(set(metrics.values or {}) | set(cfg.quality_thresholds)):
        value = (metrics.values or {}).get(name)
        rows.append(
            f"| {name} | {'missing' if value is None else f'{value:.4f}'}"
            f" | {_bar(cfg.quality_thresholds.get(name))} |"
        )
    table = (
        ["| Metric | Value | Threshold |", "| --- | --- | --- |", *rows]
        if metrics.values is not None
        else [f"Metrics unavailable: {metrics.error}"]
    )
    return "\n".join(
        [
            f"Promote model **{_package(detail, cfg)}** to **{env}**.",
            "",
            f"Sets `models.{cfg.model}.{env}` to `{detail.model_package_version}` in"
            f" `{cfg.promotion_manifest_path}`; no other model's pin changes. Merging deploys"
            f" it to {env}; reverting this change rolls back.",
            "",
            *table,
            "",
            f"- Model package: `{detail.model_package_arn}`",
            f"- Approval: {approval or '(no approval description)'}",
            f"- Evaluation report: {metrics.source or 'none'}",
            "",
            f"Opened by the model approval function for EventBridge event `{event_id}`.",
        ]
    )


def open_promotion(
    gh: GitHubClient,
    detail: ModelPackageStateChange,
    cfg: Config,
    body: str,
) -> Result:
    """Open (or find) the pull request that pins the model to this version in the target
    environment; the commit changes that one line of the manifest."""
    env = cfg.promotion_target_environment
    base = cfg.github_base_branch
    path = cfg.promotion_manifest_path
    version = detail.model_package_version
    branch = branch_name(cfg.model, version, env)
    title = _title(cfg, version)

    base_sha = gh.branch_sha(base)
    base_text, base_blob = gh.get_file(path, base)
    try:
        desired = set_version(base_text, cfg.model, env, version)
    except ManifestError as exc:
        raise PromotionFailed(f"{path} on {base!r}: {exc}") from None
    if desired == base_text:
        logger.info("manifest already pins this version; nothing to do")
        return {
            "action": "none",
            "reason": f"{cfg.model} already pins v{version} in {env} on {base}",
        }

    existing = gh.find_open_pull(branch, base)
    if existing is not None:
        logger.info("promotion pull request already open", extra={"pull_request": existing.url})
        return {"action": "pull-request-exists", "pull_request": existing.url, "branch": branch}

    if gh.create_branch(branch, base_sha):
        branch_text, branch_blob = base_text, base_blob
    else:
        logger.info("promotion branch exists; reusing it", extra={"branch": branch})
        branch_text, branch_blob = gh.get_file(path, branch)
    if branch_text != desired:
        message = f"{title}\n\nModel package: {detail.model_package_arn}"
        committed = gh.put_file(path, branch=branch, text=desired, sha=branch_blob, message=message)
        if not committed and gh.get_file(path, branch)[0] != desired:
            raise PromotionFailed(f"{path} on {branch!r} changed while it was being updated")

    pull: PullRequest = gh.create_pull(head=branch, base=base, title=title, body=body)
    logger.info("promotion pull request opened", extra={"pull_request": pull.url})
    return {"action": "pull-request-opened", "pull_request": pull.url, "branch": branch}


def on_approved(
    detail: ModelPackageStateChange,
    cfg: Config,
    clients: Clients,
    *,
    event_id: str | None,
    sleep: Callable[[float], None],
    remaining_seconds: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.time,
) -> Result:
    """Propose the promotion: a pull request, or an SNS instruction without a repository."""
    arn = detail.model_package_arn
    package = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    current = package.get("ModelApprovalStatus")
    if current != APPROVED:
        logger.info("package is no longer approved; nothing to do", extra={"current": current})
        return {"action": "none", "reason": f"package is {current}, no longer {APPROVED}"}
    try:
        metrics = read_metrics(clients.s3, package)
    except ClientError as exc:  # the report only decorates the pull request
        code = exc.response.get("Error", {}).get("Code", "error")
        logger.warning("evaluation report unreadable", extra={"error": code})
        metrics = Metrics(None, error=f"the report could not be read ({code})")
    approval = package.get("ApprovalDescription")
    body = _pull_body(detail, cfg, metrics, approval, event_id)
    env = cfg.promotion_target_environment
    version = detail.model_package_version

    if cfg.github_repository is None:
        instruction = (
            f"No GitHub repository is configured, so no pull request was opened.\n"
            f"To promote, set models.{cfg.model}.{env} to {version} in"
            f" {cfg.promotion_manifest_path} and open a pull request, e.g.:\n\n"
            f"    python tools/promote.py --model {cfg.model} --env {env} --version {version}"
            f"\n\n{body}"
        )
        publish(
            clients.sns,
            cfg.notification_topic_arn,
            _title(cfg, version),
            instruction,
            kind="promotion-instruction",
            model=cfg.model,
            model_package_group=detail.model_package_group_name,
            model_package_version=str(version),
        )
        return {"action": "instruction-published"}

    assert cfg.github_token_secret_arn is not None  # load_config requires it with a repository
    gh = GitHubClient(
        repository=cfg.github_repository,
        token=github_token(clients.secretsmanager, cfg.github_token_secret_arn),
        api_url=cfg.github_api_url,
        sleep=sleep,
        remaining_seconds=remaining_seconds,
        clock=clock,
    )
    return open_promotion(gh, detail, cfg, body)


# -- entry point --------------------------------------------------------------------------


def _dispatch(
    event: ModelPackageStateChangeEvent,
    cfg: Config,
    clients: Clients,
    sleep: Callable[[float], None],
    remaining_seconds: Callable[[], float] | None,
    clock: Callable[[], float],
) -> Result:
    detail = event.detail
    if detail.model_package_group_name != cfg.model_package_group_name:
        raise ForeignEvent(
            f"model package group {detail.model_package_group_name!r} is not the configured"
            f" {cfg.model_package_group_name!r}"
        )
    logger.append_keys(
        model_package_arn=detail.model_package_arn,
        approval_status=detail.model_approval_status,
    )
    if detail.model_approval_status == PENDING:
        # Always evaluated: re-describing makes repeats harmless, and skipping an event
        # whose field list we misread would lose a candidate.
        return on_pending(detail, cfg, clients)
    if not detail.status_changed:
        logger.info(
            "update of other fields; nothing to do",
            extra={"updated_fields": detail.updated_model_package_fields},
        )
        return {"action": "none", "reason": "approval status did not change"}
    if detail.model_approval_status == APPROVED:
        return on_approved(
            detail,
            cfg,
            clients,
            event_id=event.id,
            sleep=sleep,
            remaining_seconds=remaining_seconds,
            clock=clock,
        )
    return on_rejected(detail, cfg, clients)


def process(
    event: Any,
    cfg: Config,
    clients: Clients,
    *,
    sleep: Callable[[float], None] = time.sleep,
    remaining_seconds: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.time,
) -> Result:
    """Handle one EventBridge event; dead-letter what cannot be handled, return a summary.

    `remaining_seconds` returns the time left in the invocation (the handler feeds it
    from the Lambda context); GitHub retries stop before it runs out. None: no limit.
    `clock` is the wall time (epoch seconds) GitHub's rate-limit reset is compared with.
    """
    event_id = event.get("id") if isinstance(event, dict) else None
    event_id = event_id if isinstance(event_id, str) and event_id else None
    logger.remove_keys(["model_package_arn", "approval_status"])  # from an earlier event
    logger.append_keys(event_id=event_id or "unknown")
    try:
        parsed = parse_event(event)
        result = _dispatch(parsed, cfg, clients, sleep, remaining_seconds, clock)
    except DeadLetter as exc:
        log = logger.warning if isinstance(exc, ForeignEvent) else logger.error
        log(
            "event sent to the dead-letter queue",
            extra={"category": exc.category, "reason": exc.reason, **exc.attributes},
        )
        dead_letter(clients.sqs, cfg.dead_letter_queue_url, event, exc, event_id)
        return {
            "event_id": event_id,
            "action": "dead-lettered",
            "category": exc.category,
            "reason": exc.reason,
            **exc.attributes,
        }
    except Exception:
        logger.exception(
            "unexpected failure; Lambda retries the event, then its dead-letter queue keeps it"
        )
        raise
    logger.info("event processed", extra={"result": result})
    return {"event_id": event_id, **result}
