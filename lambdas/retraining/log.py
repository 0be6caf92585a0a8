"""The function's one structured logger (powertools), shared by its modules."""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "retraining-trigger"

logger = Logger(service=SERVICE)
