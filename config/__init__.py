"""Typed, validated settings for the reference app (see `settings.py`)."""
