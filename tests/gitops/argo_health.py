"""Runs the Argo CD health check (operator/ftoperator/gitops/health.lua) the way Argo CD does.

Argo CD evaluates a health script with gopher-lua (Lua 5.1): the live object is the global
``obj`` (JSON decoded into tables, arrays 1-based) and the script returns ``{status, message}``.
This module does the same with lupa's Lua 5.1 runtime. Used by tests/gitops and tests/helm.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lupa import lua51

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTH_LUA = REPO_ROOT / "operator" / "ftoperator" / "gitops" / "health.lua"
ARGO_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, Mapping):
        return runtime.table_from(
            {k: _to_lua(runtime, v) for k, v in value.items() if v is not None}
        )
    if isinstance(value, list | tuple):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def health(obj: Mapping[str, Any], script: str | None = None) -> tuple[str, str]:
    """(status, message) of the health script for one live object (a JSON-like dict)."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(script if script is not None else HEALTH_LUA.read_text())
    status = result["status"]
    message = result["message"]
    assert status in ARGO_STATUSES, f"not an Argo CD health status: {status!r}"
    return str(status), "" if message is None else str(message)
