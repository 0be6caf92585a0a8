"""Modules every pipeline package's step scripts share (``step_common``, ``step_serving``).

Step scripts run alone in their containers, so these are staged beside them (see
``pipelines._offline.step_sources``); scripts import them by their bare names there and
from this package in the repository.
"""
