"""The one error a dry run raises for a wiring mistake."""

from __future__ import annotations


class DryRunError(Exception):
    """A definition SageMaker would reject or a run would fail on, located exactly.

    `str()` reads `<step>: <JSON path in the step's Arguments>: <what was expected>`;
    `step` is "definition" (or the stack) for problems outside any step.
    """

    def __init__(self, step: str, path: str, expected: str) -> None:
        self.step = step
        self.path = path
        self.expected = expected
        location = f"{step}: {path}: " if path else f"{step}: "
        super().__init__(location + expected)
