"""Typed model of the "CloudWatch Alarm State Change" EventBridge event.

The shape follows the examples in the CloudWatch user guide ("Alarm events and
EventBridge"): `resources` holds the alarm ARN, `detail.alarmName` its name,
`detail.state` the new state (`value`, `reason`, `reasonData`, `timestamp`) and
`detail.previousState` the old one. Single-metric, metric-math and composite alarms share
it. Only what this function acts on is modelled (event id, alarm name and ARN, new state
and its reason); other fields are ignored so a new field does not dead-letter a valid
event.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from .errors import MalformedEvent

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class AlarmState(_Detail):
    """`detail.state`: the state the alarm entered. Only ALARM starts anything."""

    value: Literal["ALARM"]
    reason: str = ""


class AlarmStateChange(_Detail):
    """`detail` of the event."""

    alarm_name: str = Field(alias="alarmName", min_length=1, max_length=255)
    state: AlarmState


class AlarmStateChangeEvent(EventBridgeModel):
    """The whole EventBridge event, envelope and typed detail."""

    id: str = Field(min_length=1)
    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChange

    @property
    def alarm_arn(self) -> str | None:
        """The alarm's ARN (the event's first resource), when present."""
        return self.resources[0] if self.resources else None


def _errors(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(event)'}: {err['msg']}"
        for err in exc.errors()[:5]
    ]
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_event(event: Any) -> AlarmStateChangeEvent:
    """Parse `event`, or raise `MalformedEvent` saying what is wrong with it."""
    try:
        return parse(event=event, model=AlarmStateChangeEvent)
    except ValidationError as exc:
        raise MalformedEvent(
            f"not a {DETAIL_TYPE!r} event entering ALARM: {_errors(exc)}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"not an EventBridge event: {exc}") from None
