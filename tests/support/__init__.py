"""Shared helpers for the test suite (not collected as tests themselves)."""
