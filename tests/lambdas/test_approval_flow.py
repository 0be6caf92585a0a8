"""End to end per approval status: moto registry, S3 reports, SNS, DLQ and a fake GitHub."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from approval_support import (
    EPOCH,
    GROUP,
    MANIFEST_PATH,
    MANIFEST_TEXT,
    OTHER_MODEL,
    REPOSITORY,
    TOKEN,
    FakeClock,
    FakeGitHub,
    LambdaContextStub,
    Outputs,
    Registry,
    load_event,
    package_event,
    report,
    thresholds_env,
)
from botocore.exceptions import ClientError

from lambdas.approval import handler
from lambdas.approval.config import Config, Threshold
from lambdas.approval.logic import Clients, process

GOOD = report(accuracy=0.95, auc=0.96, f1=0.93)
MakeConfig = Callable[..., Config]
BRANCH_1 = f"promote/{GROUP}-v1-staging"


@pytest.fixture
def run(clients: Clients, sleeps: list[float]) -> Callable[[dict[str, Any], Config], Any]:
    """Process one event like the handler does, with sleeps recorded instead of slept."""
    return lambda event, config: process(event, config, clients, sleep=sleeps.append)


# -- PendingManualApproval ----------------------------------------------------------------


def test_manual_policy_publishes_summary_and_leaves_package_pending(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    champion = registry.add(report(accuracy=0.93, auc=0.95), status="Approved")
    candidate = registry.add(GOOD)
    result = run(package_event("pending.json", candidate), make_config(approval_policy="manual"))

    assert result["action"] == "notified" and result["verdict"] == "approve"
    assert registry.status(candidate) == ("PendingManualApproval", None)
    (note,) = outputs.notifications()
    assert note["Subject"] == f"{GROUP} v2 awaits approval (suggested: approve)"
    message = note["Message"]
    assert "Approval policy: manual" in message
    assert "beats champion v1 (accuracy 0.95 vs 0.93, higher is better)" in message
    assert "accuracy                 0.9500  (minimum 0.9000)  ok" in message
    assert "f1                       0.9300" in message
    assert f"Champion: v1 accuracy 0.9300 (higher is better; {champion})" in message
    assert note["MessageAttributes"] == {
        "kind": "candidate",
        "verdict": "approve",
        "model_package_group": GROUP,
        "model_package_version": "2",
    }
    assert outputs.dead_letters() == []


def test_auto_policy_approves_first_candidate_that_meets_thresholds(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(GOOD)
    result = run(package_event("pending.json", candidate), make_config())
    assert result["action"] == "approved"
    assert registry.status(candidate) == (
        "Approved",
        "auto: meets every quality threshold; no approved champion in the group",
    )
    assert outputs.notifications() == []  # the Approved event that follows opens the PR


def test_auto_policy_rejects_below_threshold_with_reason(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(report(accuracy=0.95, auc=0.871))
    assert run(package_event("pending.json", candidate), make_config())["action"] == "rejected"
    assert registry.status(candidate) == (
        "Rejected",
        "auto: outside the quality bar: auc 0.871 < minimum 0.9",
    )
    assert outputs.notifications() == []  # the Rejected event that follows notifies


def test_auto_policy_approves_candidate_that_beats_the_champion(
    run: Any, registry: Registry, make_config: MakeConfig
) -> None:
    registry.add(report(accuracy=0.91, auc=0.99), status="Approved")
    registry.add(report(accuracy=0.99, auc=0.99), status="Rejected")  # not a champion
    registry.add(report(accuracy=0.93, auc=0.95), status="Approved")  # latest approved: v3
    candidate = registry.add(GOOD)
    assert run(package_event("pending.json", candidate), make_config())["action"] == "approved"
    status, description = registry.status(candidate)
    assert status == "Approved"
    assert description == (
        "auto: meets every quality threshold and beats champion v3"
        " (accuracy 0.95 vs 0.93, higher is better)"
    )


def test_auto_policy_holds_and_notifies_when_champion_is_better(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    registry.add(report(accuracy=0.97, auc=0.97), status="Approved")
    candidate = registry.add(GOOD)
    result = run(package_event("pending.json", candidate), make_config())
    assert (result["action"], result["verdict"]) == ("notified", "hold")
    assert registry.status(candidate) == ("PendingManualApproval", None)
    (note,) = outputs.notifications()
    assert note["Subject"] == f"{GROUP} v2 needs a manual decision"
    assert "does not beat champion v1 (accuracy 0.95 vs 0.97, higher is better)" in note["Message"]


def test_missing_evaluation_report_holds_for_a_person(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(None)  # registered with a report location, but no object
    result = run(package_event("pending.json", candidate), make_config())
    assert result["verdict"] == "hold" and "does not exist" in result["reason"]
    assert registry.status(candidate)[0] == "PendingManualApproval"
    assert "(unavailable: the report s3://" in outputs.notifications()[0]["Message"]


def regression(**metrics: float) -> dict[str, Any]:
    return {"regression_metrics": {k: {"value": v} for k, v in metrics.items()}}


RMSE = {"rmse": Threshold(3.5, "lower"), "r2": Threshold(0.5)}


def test_lower_rmse_beats_the_champion_and_is_approved(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    registry.add(regression(rmse=3.4, r2=0.8), status="Approved")
    candidate = registry.add(regression(rmse=3.1, r2=0.8))
    config = make_config(quality_thresholds=RMSE, primary_metric="rmse", primary_direction="lower")
    assert run(package_event("pending.json", candidate), config)["action"] == "approved"
    assert registry.status(candidate) == (
        "Approved",
        "auto: meets every quality threshold and beats champion v1"
        " (rmse 3.1 vs 3.4, lower is better)",
    )
    assert outputs.notifications() == []


def test_higher_rmse_than_the_champion_holds(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    registry.add(regression(rmse=3.1, r2=0.8), status="Approved")
    candidate = registry.add(regression(rmse=3.4, r2=0.8))
    config = make_config(quality_thresholds=RMSE, primary_metric="rmse", primary_direction="lower")
    result = run(package_event("pending.json", candidate), config)
    assert (result["action"], result["verdict"]) == ("notified", "hold")
    assert "does not beat champion v1 (rmse 3.4 vs 3.1, lower is better)" in result["reason"]


def test_rmse_above_its_maximum_is_rejected_under_policy_auto(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(regression(rmse=3.6, r2=0.8))
    config = make_config(quality_thresholds=RMSE, primary_metric="rmse", primary_direction="lower")
    assert run(package_event("pending.json", candidate), config)["action"] == "rejected"
    assert registry.status(candidate) == (
        "Rejected",
        "auto: outside the quality bar: rmse 3.6 > maximum 3.5",
    )


def test_manual_summary_marks_a_maximum_exceeded(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(regression(rmse=3.6, r2=0.8))
    config = make_config(
        approval_policy="manual",
        quality_thresholds=RMSE,
        primary_metric="rmse",
        primary_direction="lower",
    )
    assert run(package_event("pending.json", candidate), config)["verdict"] == "reject"
    message = outputs.notifications()[0]["Message"]
    assert "rmse                     3.6000  (maximum 3.5000)  ABOVE" in message
    assert "r2                       0.8000  (minimum 0.5000)  ok" in message


def test_package_no_longer_pending_is_left_alone(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(report(accuracy=0.1, auc=0.1))
    registry.set_status(candidate, "Approved", "approved by a reviewer")
    result = run(package_event("pending.json", candidate), make_config())
    assert result["action"] == "none"
    assert registry.status(candidate) == ("Approved", "approved by a reviewer")
    assert outputs.notifications() == [] and outputs.dead_letters() == []


def test_duplicate_pending_event_acts_once(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(report(accuracy=0.95, auc=0.5))
    event = package_event("pending.json", candidate)
    assert run(event, make_config())["action"] == "rejected"
    assert run(event, make_config())["action"] == "none"
    assert registry.status(candidate)[0] == "Rejected"
    assert outputs.notifications() == [] and outputs.dead_letters() == []


def test_pending_package_edit_is_still_evaluated(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(GOOD)
    event = package_event(
        "pending.json", candidate, UpdatedModelPackageFields=["CustomerMetadataProperties"]
    )
    assert run(event, make_config(approval_policy="manual"))["action"] == "notified"
    assert len(outputs.notifications()) == 1


# -- Approved -----------------------------------------------------------------------------


def test_approved_opens_one_pull_request_pinning_staging(
    run: Any,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    arn = registry.add(GOOD, status="Approved")
    event = package_event("approved.json", arn)
    result = run(event, make_config())

    url = f"https://github.com/{REPOSITORY}/pull/1"
    assert result == {
        "event_id": event["id"],
        "action": "pull-request-opened",
        "pull_request": url,
        "branch": BRANCH_1,
    }
    repo = f"/repos/{REPOSITORY}"
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", f"{repo}/git/ref/heads/main"),
        ("GET", f"{repo}/contents/{MANIFEST_PATH}"),
        ("GET", f"{repo}/pulls"),
        ("POST", f"{repo}/git/refs"),
        ("PUT", f"{repo}/contents/{MANIFEST_PATH}"),
        ("POST", f"{repo}/pulls"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    assert github.requests[2].query == {
        "head": f"example-org:{BRANCH_1}",
        "base": "main",
        "state": "open",
    }
    assert github.requests[3].body == {
        "ref": f"refs/heads/{BRANCH_1}",
        "sha": github.branches["main"],
    }
    put = github.requests[4].body
    assert put["branch"] == BRANCH_1 and put["message"].startswith(f"Promote {GROUP} v1 to staging")
    assert github.files[(BRANCH_1, MANIFEST_PATH)] == MANIFEST_TEXT.replace(
        "    staging: null\n", "    staging: 1\n"
    )
    (pull,) = github.pulls
    assert pull["title"] == f"Promote {GROUP} v1 to staging" and pull["base"] == "main"
    assert f"`{arn}`" in pull["body"]
    assert "| Metric | Value | Threshold |" in pull["body"]
    assert "| accuracy | 0.9500 | minimum 0.9000 |" in pull["body"]
    assert f"Sets `models.{GROUP}.staging` to `1` in `{MANIFEST_PATH}`" in pull["body"]
    assert f"EventBridge event `{event['id']}`" in pull["body"]
    assert outputs.notifications() == [] and outputs.dead_letters() == []


def test_retried_approved_event_opens_no_second_branch_or_pull_request(
    run: Any, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    first = run(event, make_config())
    second = run(event, make_config())
    assert first["action"] == "pull-request-opened"
    assert second["action"] == "pull-request-exists"
    assert second["pull_request"] == first["pull_request"]
    assert len(github.calls("POST", "/git/refs")) == 1
    assert len(github.calls("POST", "/pulls")) == 1 and len(github.pulls) == 1


def test_github_outage_is_retried_then_dead_lettered_without_raising(
    run: Any,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
    sleeps: list[float],
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("POST", "/pulls$", status=502, message="Server Error")
    result = run(event, make_config())

    assert result["action"] == "dead-lettered" and result["category"] == "github-unavailable"
    assert len(github.calls("POST", "/pulls$")) == 4
    assert sleeps == [1.0, 2.0, 4.0]
    ((body, attributes),) = outputs.dead_letters()
    assert body == event
    assert attributes["category"] == "github-unavailable"
    assert attributes["event_id"] == event["id"]
    assert attributes["origin"] == "model-approval-function"
    assert (
        "POST /repos/example-org/mlops-models/pulls: HTTP 502 Server Error"
        in (attributes["reason"])
    )


def test_redriven_event_after_outage_reuses_branch_and_commit(
    run: Any, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("POST", "/pulls$", status=503, times=4)
    assert run(event, make_config())["action"] == "dead-lettered"
    result = run(event, make_config())  # replayed from the dead-letter queue
    assert result["action"] == "pull-request-opened"
    assert len(github.calls("PUT")) == 1  # the branch already had the change
    assert len(github.pulls) == 1


def test_manifest_already_pinning_the_version_needs_no_pull_request(
    run: Any, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(GOOD, status="Approved")
    github.seed(
        "main",
        MANIFEST_PATH,
        github.files[("main", MANIFEST_PATH)].replace("staging: null", "staging: 1", 1),
    )
    assert run(package_event("approved.json", arn), make_config())["action"] == "none"
    assert github.calls("POST") == []


def test_pull_request_says_when_metrics_are_unavailable(
    run: Any, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(None, status="Approved", with_report=False)
    assert run(package_event("approved.json", arn), make_config())["action"] == (
        "pull-request-opened"
    )
    assert "Metrics unavailable: the package has no ModelMetrics" in github.pulls[0]["body"]


def test_secret_may_hold_json_with_the_token(
    run: Any, clients: Clients, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    secret = clients.secretsmanager.create_secret(
        Name="github-app", SecretString=json.dumps({"token": TOKEN, "owner": "example-org"})
    )["ARN"]
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    result = run(event, make_config(github_token_secret_arn=secret))
    assert result["action"] == "pull-request-opened"


def test_empty_secret_is_dead_lettered(
    run: Any, clients: Clients, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    secret = clients.secretsmanager.create_secret(Name="empty", SecretString='{"token": ""}')["ARN"]
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    assert run(event, make_config(github_token_secret_arn=secret))["action"] == "dead-lettered"
    ((_, attributes),) = outputs.dead_letters()
    assert attributes["category"] == "promotion-failed"
    assert "holds no GitHub token" in attributes["reason"]


def test_target_environment_missing_from_manifest_is_dead_lettered(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    result = run(event, make_config(promotion_target_environment="qa"))
    assert result["category"] == "promotion-failed"
    assert f"models.{GROUP} has no 'qa' key; environments: ['staging', 'prod']" in result["reason"]
    assert github.calls("POST") == []
    assert len(outputs.dead_letters()) == 1


def test_without_repository_the_instruction_goes_to_sns(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(GOOD, status="Approved")
    config = make_config(github_repository=None, github_token_secret_arn=None)
    assert run(package_event("approved.json", arn), config)["action"] == "instruction-published"
    (note,) = outputs.notifications()
    assert note["Subject"] == f"Promote {GROUP} v1 to staging"
    assert f"set models.{GROUP}.staging to 1 in config/promotion.yaml" in note["Message"]
    assert f"python tools/promote.py --model {GROUP} --env staging --version 1" in note["Message"]
    assert note["MessageAttributes"]["kind"] == "promotion-instruction"
    assert github.requests == []


def test_approved_event_for_a_revoked_approval_does_nothing(
    run: Any, registry: Registry, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(GOOD, status="Approved")
    registry.set_status(arn, "Rejected", "revoked: data leak found")
    assert run(package_event("approved.json", arn), make_config())["action"] == "none"
    assert github.requests == []


def test_metadata_update_of_an_approved_package_promotes_nothing(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved-lifecycle-update.json", registry.add(GOOD, status="Approved"))
    assert run(event, make_config())["action"] == "none"
    assert github.requests == [] and outputs.dead_letters() == []


def test_stale_promotion_branch_is_updated_over_its_own_blob(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(GOOD, status="Approved")
    stale = github.files[("main", MANIFEST_PATH)].replace("staging: null", "staging: 9", 1)
    github.seed(BRANCH_1, MANIFEST_PATH, stale)  # left over from an earlier attempt
    result = run(package_event("approved.json", arn), make_config())

    assert result["action"] == "pull-request-opened"
    assert github.calls("POST", "/git/refs")  # tried, and found the branch existing
    (put,) = github.calls("PUT")
    assert put.body["sha"] == FakeGitHub.blob(stale)  # the branch's blob, not main's
    assert put.body["branch"] == BRANCH_1
    text = github.files[(BRANCH_1, MANIFEST_PATH)]
    assert f"  {GROUP}:\n    staging: 1\n    prod: null" in text
    assert len(github.pulls) == 1 and outputs.dead_letters() == []


def test_sha_conflict_on_put_is_re_read_then_dead_lettered_and_redrive_succeeds(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("PUT", "/contents/", status=409, times=1, message="sha does not match")
    result = run(event, make_config())

    assert (result["action"], result["category"]) == ("dead-lettered", "promotion-failed")
    assert "changed while it was being updated" in result["reason"]
    contents = [r for r in github.requests if "/contents/" in r.path]
    assert [(r.method, r.query.get("ref")) for r in contents] == [
        ("GET", "main"),
        ("PUT", None),
        ("GET", BRANCH_1),  # re-read after the conflict
    ]
    assert github.pulls == []
    assert len(outputs.dead_letters()) == 1

    redriven = run(event, make_config())  # replayed from the dead-letter queue
    assert redriven["action"] == "pull-request-opened"
    assert len(github.calls("PUT")) == 2 and len(github.pulls) == 1


def test_invalid_put_is_a_github_error_not_a_conflict(
    run: Any,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
    sleeps: list[float],
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("PUT", "/contents/", status=422, message="Invalid request: content is not valid")
    result = run(event, make_config())

    assert (result["action"], result["category"]) == ("dead-lettered", "github-error")
    assert "HTTP 422 Invalid request" in result["reason"]
    assert len(github.calls("PUT")) == 1 and sleeps == []  # not retried
    assert github.calls("GET", f"/contents/{MANIFEST_PATH}")[-1].query == {"ref": "main"}
    assert github.pulls == []
    ((_, attributes),) = outputs.dead_letters()
    assert attributes["category"] == "github-error"


def test_pull_request_opened_concurrently_is_returned_when_creating_says_it_exists(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    url = f"https://github.com/{REPOSITORY}/pull/7"
    github.pulls.append(
        {"number": 7, "html_url": url, "state": "open", "head": BRANCH_1, "base": "main"}
    )
    github.fail("GET", "/pulls$", status=200, times=1, body=[])  # opened after this listing
    result = run(event, make_config())

    assert result == {
        "event_id": event["id"],
        "action": "pull-request-opened",
        "pull_request": url,
        "branch": BRANCH_1,
    }
    assert [r.method for r in github.requests if r.path.endswith("/pulls")] == [
        "GET",
        "POST",  # 422: "A pull request already exists for ..."
        "GET",
    ]
    assert len(github.pulls) == 1 and outputs.dead_letters() == []


def test_retries_stop_before_the_invocation_runs_out_of_time(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("POST", "/pulls$", status=502, message="Server Error")
    clock = FakeClock(limit=18.0)  # margin 5 s, request timeout 10 s
    result = process(
        event, make_config(), clients, sleep=clock.sleep, remaining_seconds=clock.remaining
    )

    assert (result["action"], result["category"]) == ("dead-lettered", "github-unavailable")
    assert clock.sleeps == [1.0, 2.0]  # a 4 s wait plus a 10 s attempt would not fit
    assert len(github.calls("POST", "/pulls$")) == 3
    assert "HTTP 502 Server Error (gave up after 3 attempts" in result["reason"]
    ((body, attributes),) = outputs.dead_letters()
    assert body == event and attributes["category"] == "github-unavailable"


def test_no_call_is_started_without_time_for_it(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    clock = FakeClock(limit=12.0)
    result = process(
        event, make_config(), clients, sleep=clock.sleep, remaining_seconds=clock.remaining
    )
    assert result["category"] == "github-unavailable"
    assert "gave up after 0 attempts" in result["reason"]
    assert github.requests == [] and clock.sleeps == []
    assert len(outputs.dead_letters()) == 1


def test_retry_after_is_honoured_within_the_time_left(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.fail("POST", "/pulls$", status=429, times=1, headers={"Retry-After": "30"})
    clock = FakeClock(limit=80.0)
    result = process(
        event, make_config(), clients, sleep=clock.sleep, remaining_seconds=clock.remaining
    )
    assert result["action"] == "pull-request-opened"
    assert clock.sleeps == [30.0]
    assert outputs.dead_letters() == []


# -- one model among many -------------------------------------------------------------------


def test_promotion_changes_only_the_configured_model_s_pin(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(GOOD, status="Approved")  # group tabular-classifier, version 1
    result = run(package_event("approved.json", arn), make_config(promotion_model=OTHER_MODEL))

    branch = f"promote/{OTHER_MODEL}-v1-staging"
    assert (result["action"], result["branch"]) == ("pull-request-opened", branch)
    assert github.files[(branch, MANIFEST_PATH)] == MANIFEST_TEXT.replace(
        "    staging: 4\n", "    staging: 1\n"
    )
    (pull,) = github.pulls
    assert pull["title"] == f"Promote {OTHER_MODEL} v1 to staging"
    assert f"**{OTHER_MODEL} v1 (model package group {GROUP})**" in pull["body"]
    assert f"Sets `models.{OTHER_MODEL}.staging` to `1`" in pull["body"]
    assert outputs.dead_letters() == []


def test_model_missing_from_the_manifest_is_dead_lettered(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    result = run(event, make_config(promotion_model="churn"))
    assert result["category"] == "promotion-failed"
    assert (
        f"{MANIFEST_PATH} on 'main': model 'churn' is not in the promotion manifest;"
        f" models: ['{GROUP}', '{OTHER_MODEL}']" in result["reason"]
    )
    assert github.calls("POST") == [] and len(outputs.dead_letters()) == 1


# -- GitHub rate limits ----------------------------------------------------------------------


def timed(clients: Clients, config: Config, clock: FakeClock) -> Callable[[Any], Any]:
    return lambda event: process(
        event,
        config,
        clients,
        sleep=clock.sleep,
        remaining_seconds=clock.remaining,
        clock=clock.time,
    )


def test_primary_rate_limit_half_an_hour_away_dead_letters_with_the_reset_time(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    reset = int(EPOCH) + 30 * 60
    github.primary_rate_limit("GET", "/git/ref/heads/main", reset=reset, times=1)
    clock = FakeClock(limit=85.0)
    result = timed(clients, make_config(), clock)(event)

    assert (result["action"], result["category"]) == ("dead-lettered", "github-rate-limited")
    assert len(github.requests) == 1 and clock.sleeps == []  # no retry burnt
    retry_at = int(result["retry_after_epoch"])
    assert reset <= retry_at <= reset + 2
    ((body, attributes),) = outputs.dead_letters()
    assert body == event
    assert attributes["category"] == "github-rate-limited"
    assert attributes["retry_after_epoch"] == str(retry_at)
    assert f"(epoch {retry_at})" in attributes["reason"]
    assert "primary rate limit" in attributes["reason"]

    replayed = timed(clients, make_config(), FakeClock(limit=85.0))(event)  # after the reset
    assert replayed["action"] == "pull-request-opened" and len(github.pulls) == 1


def test_primary_rate_limit_resetting_within_the_time_left_waits_for_it(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.primary_rate_limit("POST", "/pulls$", reset=EPOCH + 2, times=1)
    clock = FakeClock(limit=85.0)
    result = timed(clients, make_config(), clock)(event)

    assert result["action"] == "pull-request-opened"
    (wait,) = clock.sleeps
    assert 2.0 <= wait <= 3.0
    assert len(github.calls("POST", "/pulls$")) == 2 and outputs.dead_letters() == []


def test_secondary_rate_limit_without_retry_after_waits_a_minute_when_it_fits(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.secondary_rate_limit("POST", "/git/refs", times=1)
    clock = FakeClock(limit=85.0)
    assert timed(clients, make_config(), clock)(event)["action"] == "pull-request-opened"
    assert clock.sleeps == [60.0] and outputs.dead_letters() == []


def test_secondary_rate_limit_without_retry_after_near_the_deadline_dead_letters(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.secondary_rate_limit("POST", "/git/refs", times=1)
    clock = FakeClock(limit=60.0)
    result = timed(clients, make_config(), clock)(event)

    assert (result["action"], result["category"]) == ("dead-lettered", "github-rate-limited")
    assert result["retry_after_epoch"] == str(int(EPOCH) + 60)
    assert clock.sleeps == [] and len(github.calls("POST", "/git/refs")) == 1
    ((_, attributes),) = outputs.dead_letters()
    assert attributes["retry_after_epoch"] == str(int(EPOCH) + 60)
    assert "secondary rate limit" in attributes["reason"]


def test_secondary_rate_limit_with_retry_after_waits_that_long(
    clients: Clients,
    registry: Registry,
    outputs: Outputs,
    github: FakeGitHub,
    make_config: MakeConfig,
) -> None:
    event = package_event("approved.json", registry.add(GOOD, status="Approved"))
    github.secondary_rate_limit("PUT", "/contents/", retry_after=5, status=429, times=1)
    clock = FakeClock(limit=60.0)
    assert timed(clients, make_config(), clock)(event)["action"] == "pull-request-opened"
    assert clock.sleeps == [5.0] and outputs.dead_letters() == []


# -- Rejected -----------------------------------------------------------------------------


def test_rejected_publishes_a_notice(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    arn = registry.add(report(accuracy=0.95, auc=0.871))
    registry.set_status(arn, "Rejected", "auto: outside the quality bar: auc 0.871 < minimum 0.9")
    event = package_event("rejected.json", arn, ApprovalDescription="stale text in the event")
    assert run(event, make_config())["action"] == "notified"
    (note,) = outputs.notifications()
    assert note["Subject"] == f"{GROUP} v1 was rejected"
    assert "Reason: auto: outside the quality bar: auc 0.871 < minimum 0.9" in note["Message"]
    assert "stale text" not in note["Message"]
    assert note["MessageAttributes"]["kind"] == "rejected"


def test_retried_rejected_event_after_reapproval_sends_nothing(
    run: Any, registry: Registry, outputs: Outputs, github: FakeGitHub, make_config: MakeConfig
) -> None:
    arn = registry.add(report(accuracy=0.95, auc=0.871))
    registry.set_status(arn, "Rejected", "auto: below the quality bar")
    event = package_event("rejected.json", arn)
    assert run(event, make_config())["action"] == "notified"
    assert len(outputs.notifications()) == 1
    registry.set_status(arn, "Approved", "approved by a reviewer after a re-check")
    result = run(event, make_config())  # the same event, delivered again
    assert result["action"] == "none" and "no longer Rejected" in result["reason"]
    assert outputs.notifications() == [] and outputs.dead_letters() == []
    assert github.requests == []


# -- events that cannot be handled ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "category", "reason"),
    [
        (load_event("malformed-detail.json"), "malformed-event", "ModelPackageVersion"),
        (load_event("training-job.json"), "foreign-event", "SageMaker Training Job"),
        (
            load_event("pending.json", ModelPackageGroupName="churn-model"),
            "foreign-event",
            "model package group 'churn-model' is not the configured 'tabular-classifier'",
        ),
        ({"hello": "world"}, "malformed-event", "not an EventBridge event"),
    ],
    ids=["malformed", "other-detail-type", "other-group", "not-eventbridge"],
)
def test_unhandled_events_are_dead_lettered_with_reason(
    run: Any,
    outputs: Outputs,
    make_config: MakeConfig,
    event: dict[str, Any],
    category: str,
    reason: str,
) -> None:
    result = run(event, make_config())
    assert (result["action"], result["category"]) == ("dead-lettered", category)
    ((body, attributes),) = outputs.dead_letters()
    assert body == event
    assert attributes["category"] == category and reason in attributes["reason"]
    assert attributes.get("event_id") == event.get("id")
    assert outputs.notifications() == []


def test_aws_errors_propagate_for_lambda_to_retry(
    run: Any, outputs: Outputs, make_config: MakeConfig
) -> None:
    missing = "arn:aws:sagemaker:us-east-1:123456789012:model-package/tabular-classifier/41"
    with pytest.raises(ClientError):
        run(package_event("pending.json", missing), make_config())
    assert outputs.dead_letters() == []  # the function's dead-letter queue keeps it instead


# -- through the Lambda handler --------------------------------------------------------------


def test_handler_reads_settings_and_logs_the_event_id_on_every_line(
    monkeypatch: pytest.MonkeyPatch,
    registry: Registry,
    outputs: Outputs,
    make_config: MakeConfig,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    config = make_config(approval_policy="manual")
    env = {
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "APPROVAL_POLICY": "manual",
        "QUALITY_THRESHOLDS": thresholds_env(dict(config.quality_thresholds)),
        "PRIMARY_METRIC": "accuracy",
        "NOTIFICATION_TOPIC_ARN": config.notification_topic_arn,
        "DEAD_LETTER_QUEUE_URL": config.dead_letter_queue_url,
        "GITHUB_REPOSITORY": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    try:
        event = package_event("pending.json", registry.add(GOOD))
        result = handler.lambda_handler(event, LambdaContextStub())
        foreign = load_event("training-job.json")
        assert handler.lambda_handler(foreign, LambdaContextStub())["action"] == "dead-lettered"
    finally:
        handler.reset()

    assert result["action"] == "notified"
    assert len(outputs.notifications()) == 1 and len(outputs.dead_letters()) == 1
    lines = log_lines()
    assert {line["event_id"] for line in lines} == {event["id"], foreign["id"]}
    assert all(line["service"] == "model-approval" for line in lines)
    assert any(line["message"] == "candidate evaluated" for line in lines)
    dead = [line for line in lines if line["message"] == "event sent to the dead-letter queue"]
    assert dead[0]["category"] == "foreign-event" and dead[0]["event_id"] == foreign["id"]


def test_event_with_odd_timestamps_and_metrics_without_s3_uri_is_processed(
    run: Any, registry: Registry, outputs: Outputs, make_config: MakeConfig
) -> None:
    candidate = registry.add(GOOD)
    event = package_event(
        "pending.json",
        candidate,
        CreationTime="Fri, 20 Nov 2026 14:02:09 GMT",
        LastModifiedTime="yesterday",
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json"}}},
    )
    result = run(event, make_config(approval_policy="manual"))
    assert (result["action"], result["verdict"]) == ("notified", "approve")
    assert len(outputs.notifications()) == 1 and outputs.dead_letters() == []


def test_handler_takes_the_time_left_from_the_lambda_context() -> None:
    class Context(LambdaContextStub):
        def get_remaining_time_in_millis(self) -> int:
            return 42_500

    assert handler.remaining_seconds(Context())() == 42.5
    default = handler.remaining_seconds(LambdaContextStub())()  # no such method: 90 s budget
    assert handler.DEFAULT_TIME_LIMIT_SECONDS - 1 < default <= handler.DEFAULT_TIME_LIMIT_SECONDS
