"""Classify a failed training run into a :class:`ftapi.results.FailureKind` from its log.

The exit status and the last lines of LLaMA-Factory's log decide: out-of-memory first (a
SIGKILL is the kernel's OOM killer), then data, configuration and environment patterns;
anything else is ``internal``. The message keeps the lines that matched plus the final
exception line, so the agent repairing the experiment sees what went wrong.
Called by :mod:`fttrainer.main`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ftapi.results import FailureKind

_RULES: tuple[tuple[FailureKind, re.Pattern[str]], ...] = (
    (
        FailureKind.OOM,
        re.compile(
            r"OutOfMemoryError|CUDA out of memory|out of memory|DefaultCPUAllocator: can't "
            r"allocate|Cannot allocate memory|MemoryError|NCCL.*unhandled cuda error.*memory",
            re.IGNORECASE,
        ),
    ),
    (
        FailureKind.DATA,
        re.compile(
            r"Cannot find valid samples|corresponds to no data|Dataset \S+ not found|"
            r"Cannot open data file|File not found: .*dataset|DatasetGenerationError|"
            r"ArrowInvalid|JSONDecodeError|llamafactory/data/|KeyError: '(instruction|input|"
            r"output|conversations|messages|prompt|response|chosen|rejected)'|"
            r"Undefined dataset|dataset_info\.json",
        ),
    ),
    (
        FailureKind.CONFIG,
        re.compile(
            r"Some specified arguments are not used by the HfArgumentParser|"
            r"Template \S+ does not exist|llamafactory/hparams/|hparams/parser\.py|"
            r"training_args\.py.*__post_init__|invalid choice|is not a valid \w+|"
            r"not supported between instances of '\w+' and 'str'|could not convert string|"
            r"Please (specify|use|set|install|remove)|should be (a|an|set|one|in)|"
            r"must be (a|an|set|one|in|positive|greater|less|divisible)|"
            r"cannot be used with|is incompatible with|only supports",
            re.IGNORECASE,
        ),
    ),
    (
        FailureKind.ENVIRONMENT,
        re.compile(
            r"ModuleNotFoundError|ImportError|No module named|command not found|"
            r"CUDA driver|no CUDA GPUs are available|NCCL error|"
            r"does not appear to have a file named|Error no file named|"
            r"Can't load (tokenizer|config)|"
            r"OSError: .*(model|config|tokenizer)|We couldn't connect to|offline mode|"
            r"No space left on device|Read-only file system|Permission denied",
            re.IGNORECASE,
        ),
    ),
)

_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*)?(?:Error|Exception|Interrupt)\b.*")
MESSAGE_LINES = 12


@dataclass(frozen=True)
class Classified:
    kind: FailureKind
    message: str


def final_exception(lines: Sequence[str]) -> str | None:
    """The last ``SomeError: ...`` line of a traceback in ``lines``."""
    for line in reversed(lines):
        stripped = line.strip()
        if _EXCEPTION_LINE.match(stripped) and ":" in stripped:
            return stripped
    return None


def classify_failure(
    returncode: int, lines: Sequence[str], *, timed_out: bool = False
) -> Classified:
    """The failure kind of a run that exited with ``returncode``, and why."""
    exception = final_exception(lines)
    if timed_out:
        return Classified(FailureKind.TIMEOUT, "training ran past its time limit")
    if returncode in (-9, 137):
        return Classified(
            FailureKind.OOM, f"killed by SIGKILL (exit {returncode}), most likely out of memory"
        )
    # The final exception decides first; the whole tail only when it matches nothing.
    for candidates in ([exception] if exception else [], list(lines)):
        for kind, pattern in _RULES:
            matched = [line.strip() for line in candidates if pattern.search(line)]
            if matched:
                shown = matched[-MESSAGE_LINES:]
                if exception and exception not in shown:
                    shown.append(exception)
                return Classified(kind, "\n".join(shown))
    detail = exception or "\n".join(line.strip() for line in lines[-MESSAGE_LINES:])
    return Classified(FailureKind.INTERNAL, f"exit {returncode}: {detail}")
