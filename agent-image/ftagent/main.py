"""Entry point of the agent pod: ``python -m ftagent``.

Reads the :class:`ftapi.steps.StepRequest` from the environment variable ``FT_STEP_REQUEST``,
runs the step (:func:`ftagent.pipeline.run_step`) and writes exactly one
:class:`ftapi.results.StepResult` (``StepResult.dump_message()``) to the file named by
``FT_TERMINATION_LOG`` (default ``/dev/termination-log``). Exit status 0 when the plan and its
data were written, 1 otherwise; the failure kind tells the operator whether a repair can help.
The operator's Job (or ``ftctl run``'s local executor) is the only caller.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from ftagent.errors import AgentError, RequestError
from ftapi.errors import format_validation_error
from ftapi.results import FailureKind, StepResult
from ftapi.steps import (
    DEFAULT_TERMINATION_LOG,
    STEP_REQUEST_ENV,
    TERMINATION_LOG_ENV,
    StepKind,
    StepRequest,
)

log = logging.getLogger("ftagent")

MESSAGE_LIMIT = 2000


def read_request(environ: Mapping[str, str]) -> StepRequest:
    """The step request from ``FT_STEP_REQUEST``."""
    text = environ.get(STEP_REQUEST_ENV)
    if not text:
        raise RequestError(f"environment variable {STEP_REQUEST_ENV} is not set")
    try:
        return StepRequest.model_validate_json(text)
    except ValidationError as exc:
        raise RequestError(
            f"{STEP_REQUEST_ENV} is not a valid step request:\n{format_validation_error(exc)}"
        ) from exc


def failure_result(kind: FailureKind, message: str) -> StepResult:
    return StepResult(step=StepKind.AGENT, ok=False, failure=kind, message=message[-MESSAGE_LIMIT:])


def write_termination_message(path: Path, result: StepResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.dump_message(), encoding="utf-8")


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("FT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The pod has no route to GitHub: litellm must use its bundled price table.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    termination_log = Path(os.environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG)
    try:
        from ftagent.pipeline import run_step
        from ftagent.sandbox import attach_runner

        attach_runner()  # the pod's script container, when the operator gave the agent one
        result = run_step(read_request(os.environ))
    except AgentError as exc:
        log.error("agent step failed (%s): %s", exc.kind, exc)
        result = failure_result(exc.kind, str(exc))
    except Exception as exc:
        log.exception("agent step crashed")
        tail = "".join(traceback.format_exception(exc)[-6:])
        result = failure_result(FailureKind.INTERNAL, f"{type(exc).__name__}: {exc}\n{tail}")
    try:
        write_termination_message(termination_log, result)
    except OSError as exc:
        log.error("cannot write the termination message to %s: %s", termination_log, exc)
        print(result.dump_message(), file=sys.stderr)
        return 1
    return 0 if result.ok else 1
