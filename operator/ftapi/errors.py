"""Human-readable renderings of validation errors, shared by the CLI, the operator's status
conditions and the workers."""

from __future__ import annotations

from pydantic import ValidationError


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("spec", "budget", "maxIterations")`` -> ``spec.budget.maxIterations``;
    list indices as ``[i]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(exc: ValidationError, limit: int = 20) -> str:
    """One line per problem, each naming the field: ``spec.budget.timeout: invalid ...``."""
    lines = []
    for err in exc.errors(include_url=False)[:limit]:
        where = error_path(tuple(err["loc"])) or "(root)"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    extra = exc.error_count() - limit
    if extra > 0:
        lines.append(f"... and {extra} more")
    return "\n".join(lines)
