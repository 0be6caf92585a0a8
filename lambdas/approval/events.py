"""Typed model of the "SageMaker Model Package State Change" EventBridge event.

The shape follows the example in the SageMaker developer guide ("Events that Amazon
SageMaker AI sends to Amazon EventBridge"): `detail` repeats DescribeModelPackage's
fields (group, version, ARN, approval status, model metrics, ...) and, for updates,
lists the changed fields in `UpdatedModelPackageFields`. Only the fields this function
acts on are modelled and validated (group, version, ARN, approval status, updated fields);
everything else, such as timestamps and model metrics, is ignored so that an odd format
or a new field does not turn a valid event into a dead letter (the function re-describes
the package for anything else it needs).
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from .errors import ForeignEvent, MalformedEvent

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Model Package State Change"

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


class _Detail(BaseModel):
    """AWS's PascalCase keys, read into snake_case attributes."""

    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="ignore", frozen=True
    )


class ModelPackageStateChange(_Detail):
    """`detail` of the event: the model package after the change."""

    model_package_group_name: str = Field(min_length=1)
    model_package_version: int = Field(gt=0)
    model_package_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/\S+$"
    )
    model_approval_status: ApprovalStatus
    updated_model_package_fields: list[str] | None = None

    @property
    def status_changed(self) -> bool:
        """False when the event reports only other fields changing (metadata edits).

        Registration events carry no `UpdatedModelPackageFields`; an approval or
        rejection lists `ModelApprovalStatus`. Editing, say, the model life cycle of an
        old Approved version must not promote it again.
        """
        fields = self.updated_model_package_fields
        return not fields or "ModelApprovalStatus" in fields


class ModelPackageStateChangeEvent(EventBridgeModel):
    """The whole EventBridge event, envelope and typed detail."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageStateChange


def _errors(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(event)'}: {err['msg']}"
        for err in exc.errors()[:5]
    ]
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_event(event: Any) -> ModelPackageStateChangeEvent:
    """Parse `event`, telling malformed events apart from foreign ones.

    Raises `MalformedEvent` when it is not an EventBridge event, or is a model package
    state change whose detail lacks what this function needs; `ForeignEvent` when it is
    a well-formed event of another source or detail type.
    """
    try:
        envelope = parse(event=event, model=EventBridgeModel)
    except (ValidationError, TypeError, ValueError) as exc:
        detail = _errors(exc) if isinstance(exc, ValidationError) else str(exc)
        raise MalformedEvent(f"not an EventBridge event: {detail}") from None
    if envelope.source != SOURCE or envelope.detail_type != DETAIL_TYPE:
        raise ForeignEvent(
            f"unexpected event: source {envelope.source!r}, detail-type"
            f" {envelope.detail_type!r}; this function handles only {SOURCE!r}"
            f" {DETAIL_TYPE!r} events"
        )
    try:
        return parse(event=event, model=ModelPackageStateChangeEvent)
    except ValidationError as exc:
        raise MalformedEvent(f"{DETAIL_TYPE!r} event with invalid detail: {_errors(exc)}") from None
