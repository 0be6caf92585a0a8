"""Retraining trigger: start a model's pipeline when a drift or quality alarm fires."""
