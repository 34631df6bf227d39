"""Filtering proposed LLaMA-Factory configs: known keys, types, managed keys and paths."""

from __future__ import annotations

import pytest

from ftagent.config_filter import coerce, filter_config, is_inside, load_key_table
from ftapi.plan import OPERATOR_MANAGED_KEYS

WORKSPACE = "/workspace"
FORCED = {"finetuning_type": "lora", "template": "qwen", "dataset": "train"}


def run(proposed):
    return filter_config(proposed, workspace=WORKSPACE, forced=FORCED)


def test_known_keys_pass_and_are_coerced() -> None:
    result = run(
        {
            "learning_rate": "2e-5",
            "num_train_epochs": 2,
            "lora_rank": "8",
            "bf16": "true",
            "lora_target": ["q_proj", "v_proj"],
            "lr_scheduler_type": "cosine",
        }
    )
    assert result.config["learning_rate"] == 2e-5
    assert result.config["num_train_epochs"] == 2.0
    assert result.config["lora_rank"] == 8
    assert result.config["bf16"] is True
    assert result.config["lora_target"] == "q_proj,v_proj"
    assert result.dropped == [] and result.overridden == []


def test_unknown_bad_and_denied_keys_are_dropped() -> None:
    result = run(
        {
            "not_a_real_key": 1,
            "lora_rank": "eight",
            "finetuning_type_x": "lora",
            "push_to_hub": True,
            "hub_model_id": "me/model",
            "hf_hub_token": "secret",
            "ray_num_workers": 4,
            "fsdp": "full_shard",
            "stage": "sft",
            "learning_rate": float("nan"),
            "warmup_ratio": None,
        }
    )
    assert sorted(result.dropped) == sorted(
        [
            "not_a_real_key",
            "lora_rank",
            "finetuning_type_x",
            "push_to_hub",
            "hub_model_id",
            "hf_hub_token",
            "ray_num_workers",
            "fsdp",
            "learning_rate",
            "warmup_ratio",
        ]
    )
    assert result.overridden == ["stage"]
    assert "not a LLaMA-Factory" in result.reasons["not_a_real_key"]


def test_operator_managed_keys_are_replaced() -> None:
    proposed = {key: "/workspace/x" for key in OPERATOR_MANAGED_KEYS}
    result = run(proposed)
    assert sorted(result.overridden) == sorted(OPERATOR_MANAGED_KEYS)
    assert result.config == FORCED


def test_paths_outside_the_workspace_are_dropped() -> None:
    result = run(
        {
            "cache_dir": "/root/.cache",
            "tokenized_path": "/workspace/../etc/passwd",
            "media_dir": "relative/folder",
            "resume_from_checkpoint": "/tmp/ckpt",
            "run_name": "../../escape",
            "mask_history": True,
            "dataset_dir": "/etc",  # managed: overridden, never kept
            "add_special_tokens": "~/tokens",
        }
    )
    assert sorted(result.dropped) == [
        "add_special_tokens",
        "cache_dir",
        "media_dir",
        "resume_from_checkpoint",
        "run_name",
        "tokenized_path",
    ]
    assert result.config["mask_history"] is True
    assert "not an allowed training hyper-parameter" in result.reasons["cache_dir"]


def test_no_path_key_passes_even_inside_the_workspace() -> None:
    """Path keys let a plan read or write where it likes (another campaign's folder in the
    same claim); the allow-list has none."""
    result = run({"tokenized_path": "/workspace/ns/c/iter-000/tok", "cache_dir": "/workspace"})
    assert sorted(result.dropped) == ["cache_dir", "tokenized_path"]
    assert "tokenized_path" not in result.config and "cache_dir" not in result.config


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("save_steps", 1),  # a checkpoint every step fills the claim
        ("save_total_limit", 100000),
        ("dataloader_num_workers", 4096),
        ("preprocessing_num_workers", 10_000),
        ("learning_rate", 10.0),
        ("per_device_train_batch_size", 0),
        ("lora_target", "q_proj; rm -rf /"),
        ("report_to", "wandb"),  # trackers reach outside services
        ("hub_model_id", "me/stolen"),
        ("ray_storage_path", "s3://bucket"),
    ],
)
def test_hostile_values_are_dropped(key: str, value: object) -> None:
    result = run({key: value, "learning_rate": 1e-4} if key != "learning_rate" else {key: value})
    assert key in result.dropped or key in result.overridden
    assert result.config.get(key) != value


def test_saving_checkpoints_is_always_bounded() -> None:
    result = run({"save_strategy": "steps", "save_steps": 100})
    assert result.config["save_total_limit"] == 1


def test_is_inside() -> None:
    assert is_inside("/workspace/a/b", "/workspace")
    assert not is_inside("/workspace2/a", "/workspace")
    assert not is_inside("/workspace/../x", "/workspace")
    assert not is_inside("workspace/a", "/workspace")


def test_choices_are_enforced() -> None:
    table = load_key_table()
    assert coerce("lora", table.keys["finetuning_type"]) == "lora"
    try:
        coerce("qlora", table.keys["finetuning_type"])
    except ValueError as exc:
        assert "not one of" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected a ValueError")
