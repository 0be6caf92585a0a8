"""Parsing the EventBridge envelope and the model package state change detail."""

from __future__ import annotations

import pytest
from approval_support import load_event

from lambdas.approval.errors import ForeignEvent, MalformedEvent
from lambdas.approval.events import parse_event


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("pending.json", "PendingManualApproval"),
        ("approved.json", "Approved"),
        ("rejected.json", "Rejected"),
    ],
)
def test_fixture_for_each_status_parses_into_typed_fields(name: str, status: str) -> None:
    event = parse_event(load_event(name))
    detail = event.detail
    assert event.detail_type == "SageMaker Model Package State Change"
    assert detail.model_approval_status == status
    assert detail.model_package_group_name == "tabular-classifier"
    assert detail.model_package_version == 7
    assert detail.model_package_arn.endswith(":model-package/tabular-classifier/7")
    assert detail.status_changed


@pytest.mark.parametrize(
    "odd",
    [
        {"CreationTime": "20/11/2026 14:02 UTC", "LastModifiedTime": 1795182600000},
        {"ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json"}}}},
        {"ModelPackageStatus": None, "ModelPackageName": 7, "ApprovalDescription": ["x"]},
    ],
    ids=["timestamps", "metrics-without-s3uri", "other-fields"],
)
def test_fields_the_function_does_not_use_are_not_validated(odd: dict[str, object]) -> None:
    detail = parse_event(load_event("pending.json", **odd)).detail
    assert (detail.model_package_version, detail.model_approval_status) == (
        7,
        "PendingManualApproval",
    )


def test_update_of_other_fields_is_not_a_status_change() -> None:
    detail = parse_event(load_event("approved-lifecycle-update.json")).detail
    assert detail.updated_model_package_fields == ["ModelLifeCycle"]
    assert not detail.status_changed


def test_other_detail_type_is_foreign() -> None:
    with pytest.raises(ForeignEvent, match="SageMaker Training Job State Change"):
        parse_event(load_event("training-job.json"))


def test_other_source_is_foreign() -> None:
    event = load_event("pending.json")
    event["source"] = "custom.pipeline"
    with pytest.raises(ForeignEvent, match=r"custom\.pipeline"):
        parse_event(event)


def test_detail_without_version_and_with_bad_status_is_malformed() -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_event(load_event("malformed-detail.json"))
    assert "ModelPackageVersion" in caught.value.reason
    assert "ModelApprovalStatus" in caught.value.reason


@pytest.mark.parametrize("event", [{}, {"id": "x"}, [], "not json", None, 42])
def test_non_eventbridge_input_is_malformed(event: object) -> None:
    with pytest.raises(MalformedEvent, match="not an EventBridge event"):
        parse_event(event)
