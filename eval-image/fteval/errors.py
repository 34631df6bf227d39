"""The evaluation step's own failure type, carrying the FailureKind the operator acts on.

Raised anywhere in :mod:`fteval`; :mod:`fteval.main` turns it into the termination message.
"""

from __future__ import annotations

from ftapi.results import FailureKind


class EvalStepError(Exception):
    """The evaluation step cannot produce a score; ``kind`` says why."""

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind = kind
