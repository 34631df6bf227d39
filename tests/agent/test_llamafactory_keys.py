"""The shipped LLaMA-Factory key table matches what the installed LLaMA-Factory accepts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ftagent.config_filter import load_key_table

SCRIPT = Path(__file__).resolve().parents[2] / "agent-image/scripts/derive_llamafactory_keys.py"
SHIPPED = Path(__file__).resolve().parents[2] / "agent-image/ftagent/llamafactory_keys.json"


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_llamafactory_keys", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_table_matches_installed_llamafactory() -> None:
    derive = _derive_module()
    table = derive.derive()
    assert SHIPPED.read_text(encoding="utf-8") == derive.render(table), (
        "agent-image/ftagent/llamafactory_keys.json is stale: run "
        "agent-image/scripts/derive_llamafactory_keys.py"
    )


def test_table_is_package_data_with_the_core_sft_keys() -> None:
    table = load_key_table()
    assert table.llamafactory == json.loads(SHIPPED.read_text())["llamafactory"]
    for key in ("learning_rate", "num_train_epochs", "lora_rank", "cutoff_len", "template"):
        assert key in table
    assert table.keys["finetuning_type"]["choices"] == ["freeze", "full", "lora", "oft"]
    assert "_n_gpu" not in table  # not an init field: HfArgumentParser rejects it
