"""Fast tests of the trainer's pure parts: config rendering, templates, failure
classification, loss history, and the tiny model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures import toy

from ftapi.campaign import TrainingMethod
from ftapi.plan import DataRecipe, Plan
from ftapi.results import FailureKind
from fttrainer.config import (
    SMOKE_MAX_SAMPLES,
    SMOKE_MAX_STEPS,
    ConfigError,
    render_training_config,
)
from fttrainer.deepspeed import deepspeed_config
from fttrainer.failures import classify_failure
from fttrainer.family import UnknownFamilyError, template_for_model
from fttrainer.history import read_loss_history, total_steps
from fttrainer.preflight import DataError, check_dataset
from fttrainer.tiny_model import CHAT_TEMPLATE, DEFAULT_SYSTEM, build_tiny_model

QWEN2 = {"model_type": "qwen2", "max_position_embeddings": 2048}


def _plan(config: dict, method: TrainingMethod = TrainingMethod.LORA) -> Plan:
    return Plan(
        iteration=0,
        planner="search",
        hypothesis="h",
        method=method,
        recipe=DataRecipe(datasets=["deepscaler"], sample_size=10),
        training_config=config,
    )


def _render(config: dict, **kwargs):
    defaults = {
        "mode": "full",
        "base_model_dir": Path("/cache/models/m"),
        "data_dir": Path("/ws/data"),
        "output_dir": Path("/ws/train/output"),
        "gpus": 1,
        "model_config": QWEN2,
        "deepspeed_file": Path("/ws/train/deepspeed.json"),
    }
    method = kwargs.pop("method", TrainingMethod.LORA)
    return render_training_config(_plan(config, method), **(defaults | kwargs))


class TestRenderTrainingConfig:
    def test_operator_keys_win_over_the_plan(self) -> None:
        planned = {
            "output_dir": "/etc",
            "dataset": "other",
            "dataset_dir": "/tmp",
            "model_name_or_path": "evil/model",
            "adapter_name_or_path": "/x",
            "report_to": "wandb",
            "stage": "dpo",
            "finetuning_type": "full",
            "trust_remote_code": True,
            "learning_rate": 1e-4,
        }
        config = _render(planned).config
        assert config["output_dir"] == "/ws/train/output"
        assert config["dataset"] == "train" and config["dataset_dir"] == "/ws/data"
        assert config["model_name_or_path"] == "/cache/models/m"
        assert "adapter_name_or_path" not in config
        assert config["report_to"] == "none" and config["stage"] == "sft"
        assert config["finetuning_type"] == "lora" and config["trust_remote_code"] is False
        assert config["overwrite_cache"] is True and config["save_only_model"] is True
        assert config["learning_rate"] == 1e-4

    def test_template_from_family_unless_planned(self) -> None:
        assert _render({}).config["template"] == "qwen"
        assert _render({"template": "chatml"}).config["template"] == "chatml"
        with pytest.raises(UnknownFamilyError, match="set 'template'"):
            _render({}, model_config={"model_type": "mystery"})

    def test_smoke_overrides(self) -> None:
        planned = {"max_steps": 1000, "max_samples": 5000, "num_train_epochs": 3, "val_size": 0.1}
        config = _render(planned, mode="smoke").config
        assert config["max_steps"] == SMOKE_MAX_STEPS
        assert config["max_samples"] == SMOKE_MAX_SAMPLES
        assert config["save_strategy"] == "no" and config["logging_steps"] == 1
        assert "val_size" not in config
        assert _render({"max_steps": 2}, mode="smoke").config["max_steps"] == 2

    def test_cutoff_len_within_context_and_no_mixed_precision_on_cpu(self) -> None:
        config = _render({"cutoff_len": 100_000, "bf16": True}, gpus=0).config
        assert config["cutoff_len"] == 2048
        assert "bf16" not in config
        assert _render({"bf16": True}).config["bf16"] is True

    @pytest.mark.parametrize(
        ("method", "stage"), [(TrainingMethod.LORA, 2), (TrainingMethod.FULL, 3)]
    )
    def test_multi_gpu_uses_deepspeed(self, method: TrainingMethod, stage: int) -> None:
        rendered = _render({}, gpus=4, method=method)
        assert rendered.nproc == 4
        assert rendered.config["deepspeed"] == "/ws/train/deepspeed.json"
        assert rendered.deepspeed is not None
        assert rendered.deepspeed["zero_optimization"]["stage"] == stage
        assert _render({}, gpus=1).deepspeed is None

    def test_refusals(self) -> None:
        with pytest.raises(ConfigError, match="not allowed"):
            _render({}, method=TrainingMethod.FULL, allowed_methods=[TrainingMethod.LORA])

    def test_a_plan_tampered_after_validation_is_filtered_again(self) -> None:
        """A script rewrote plan.json after the agent validated it: the trainer applies the
        same allow-list (no paths, no hub uploads, no interpolation, bounded checkpoints)."""
        tampered = {
            "run_name": "${oc.env:FT_LLM_API_KEY}",
            "push_to_hub": True,
            "hub_model_id": "attacker/model",
            "tokenized_path": "/etc",
            "save_strategy": "steps",
            "save_steps": 1,
            "dataloader_num_workers": 4096,
            "learning_rate": 2e-4,
        }
        rendered = _render(tampered)
        for key in ("run_name", "push_to_hub", "hub_model_id", "tokenized_path", "save_steps"):
            assert key not in rendered.config and key in rendered.dropped
        assert "dataloader_num_workers" not in rendered.config
        assert rendered.config["save_total_limit"] == 1
        assert rendered.config["learning_rate"] == 2e-4


def test_deepspeed_config_is_json() -> None:
    for stage in (2, 3):
        assert (
            json.loads(json.dumps(deepspeed_config(stage)))["zero_optimization"]["stage"] == stage
        )
    with pytest.raises(ValueError):
        deepspeed_config(1)


@pytest.mark.parametrize(
    ("config", "template"),
    [
        ({"model_type": "qwen2"}, "qwen"),
        ({"model_type": "qwen3"}, "qwen3"),
        ({"model_type": "llama", "vocab_size": 128256}, "llama3"),
        ({"model_type": "llama", "vocab_size": 32000}, "llama2"),
        ({"model_type": "mistral"}, "mistral"),
    ],
)
def test_template_for_model(config: dict, template: str) -> None:
    assert template_for_model(config) == template


# Log tails as LLaMA-Factory 0.9.5 and the kernel produce them.
LOGS = {
    "template": (
        1,
        [
            '  File ".../llamafactory/data/template.py", line 639, in get_template_and_fix_'
            "tokenizer",
            '    raise ValueError(f"Template {data_args.template} does not exist.")',
            "ValueError: Template nosuch does not exist.",
        ],
        FailureKind.CONFIG,
    ),
    "string-lr": (
        1,
        [
            '  File ".../torch/optim/adam.py", line 58, in __init__',
            "    if not 0.0 <= lr:",
            "TypeError: '<=' not supported between instances of 'float' and 'str'",
        ],
        FailureKind.CONFIG,
    ),
    "column": (
        1,
        [
            '  File ".../llamafactory/data/converter.py", line 94, in __call__',
            "    if self.dataset_attr.prompt and example[self.dataset_attr.prompt]:",
            "KeyError: 'instruction'",
        ],
        FailureKind.DATA,
    ),
    "empty": (
        1,
        ['ValueError: Instruction "train" corresponds to no data!'],
        FailureKind.DATA,
    ),
    "cuda-oom": (
        1,
        ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"],
        FailureKind.OOM,
    ),
    "oom-killer": (-9, ["[INFO] step 12"], FailureKind.OOM),
    "import": (1, ["ModuleNotFoundError: No module named 'deepspeed'"], FailureKind.ENVIRONMENT),
    "bug": (1, ["RuntimeError: something unexpected"], FailureKind.INTERNAL),
}


@pytest.mark.parametrize("case", sorted(LOGS))
def test_classify_failure(case: str) -> None:
    returncode, lines, kind = LOGS[case]
    classified = classify_failure(returncode, lines)
    assert classified.kind is kind
    if returncode > 0:
        assert lines[-1].strip() in classified.message


def test_classify_timeout() -> None:
    assert classify_failure(-15, ["x"], timed_out=True).kind is FailureKind.TIMEOUT


def test_loss_history(tmp_path: Path) -> None:
    lines = [
        {"current_steps": 1, "total_steps": 3, "loss": 2.5, "lr": 1e-3, "epoch": 0.5},
        {"current_steps": 2, "total_steps": 3, "loss": float("nan"), "lr": 1e-3, "epoch": 1.0},
        {"current_steps": 3, "total_steps": 3, "loss": 1.5, "lr": 5e-4, "epoch": 1.5},
        {"current_steps": 3, "total_steps": 3, "epoch": 1.5},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"current_steps": 4, "lo'
    (tmp_path / "trainer_log.jsonl").write_text(text, encoding="utf-8")
    history = read_loss_history(tmp_path)
    assert [(p.step, p.loss) for p in history] == [(1, 2.5), (3, 1.5)]
    assert history[0].learning_rate == 1e-3 and history[1].epoch == 1.5
    assert total_steps(tmp_path) == 3
    assert read_loss_history(tmp_path / "missing") == []


def test_check_dataset(tmp_path: Path) -> None:
    rows = [{"instruction": "q", "input": "", "output": "a"}]
    (tmp_path / "train.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"dataset_info\.json"):
        check_dataset(tmp_path)
    info = {"train": {"file_name": "train.json"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    assert check_dataset(tmp_path) == 1
    (tmp_path / "train.json").write_text('[{"instruction": "q", "output": " "}]', encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        check_dataset(tmp_path)
    (tmp_path / "train.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DataError, match="not JSON"):
        check_dataset(tmp_path)


class TestTinyModel:
    def test_tokenizer_follows_qwen2(self, tiny_model: Path) -> None:
        from transformers import AutoTokenizer

        config = json.loads((tiny_model / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert config["tokenizer_class"] == "Qwen2Tokenizer"
        assert config["model_input_names"] == ["input_ids", "attention_mask"]
        assert config["eos_token"] == "<|im_end|>" and config["pad_token"] == "<|endoftext|>"
        tokenizer = AutoTokenizer.from_pretrained(tiny_model)
        assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
        regular = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=False)
        assert [tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")] == [
            regular,
            regular + 2,
        ]
        assert 400 <= len(tokenizer) <= 600
        text = "What is 3 plus 4? \\boxed{7} ünïcode 答案"
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text

    def test_chat_template_matches_llamafactory_qwen(self, tiny_model: Path) -> None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tiny_model)
        assert tokenizer.chat_template == CHAT_TEMPLATE
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
        )
        # LLaMA-Factory's ``qwen`` template, slot by slot.
        assert rendered == (
            f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        )

    def test_build_is_deterministic(self, tiny_model: Path, tmp_path: Path) -> None:
        again = build_tiny_model(tmp_path / "again", corpus=toy.tokenizer_corpus(), seed=0)
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            assert (again / name).read_bytes() == (tiny_model / name).read_bytes(), name
        other = build_tiny_model(tmp_path / "other", corpus=toy.tokenizer_corpus(), seed=1)
        assert (other / "model.safetensors").read_bytes() != (
            again / "model.safetensors"
        ).read_bytes()


def test_a_plan_changed_after_the_agent_reported_it_is_not_trained_on(campaign) -> None:
    """A script's child rewrote plan.json after the agent's step: the digest the agent
    reported (kept by the operator) no longer matches, and the trainer refuses."""
    from ftapi.digest import tree_digest
    from ftapi.steps import StepKind
    from fttrainer.main import StepFailure, train

    campaign.write_plan(0, {"learning_rate": 1e-4})
    reported = tree_digest(campaign.layout.plan_inputs(0, 0))
    plan_file = campaign.layout.plan_file(0, 0)
    tampered = json.loads(plan_file.read_text())
    tampered["trainingConfig"]["push_to_hub"] = True
    plan_file.write_text(json.dumps(tampered))
    request = campaign.request(StepKind.TRAIN, 0).model_copy(update={"inputs_sha256": reported})
    with pytest.raises(StepFailure, match="changed after the agent validated them") as caught:
        train(request)
    assert caught.value.kind is FailureKind.DATA


class TestQLoRA:
    def test_qlora_is_lora_on_a_4_bit_base(self) -> None:
        config = _render({"lora_rank": 16}, method=TrainingMethod.QLORA).config
        assert config["finetuning_type"] == "lora" and config["lora_rank"] == 16
        assert config["quantization_bit"] == 4
        assert config["quantization_method"] == "bitsandbytes"
        assert config["double_quantization"] is True

    def test_qlora_needs_a_gpu(self) -> None:
        with pytest.raises(ConfigError, match="qlora needs a GPU"):
            _render({}, method=TrainingMethod.QLORA, gpus=0)

    def test_other_methods_never_quantise(self) -> None:
        config = _render({"quantization_bit": 4}, method=TrainingMethod.LORA).config
        assert "quantization_bit" not in config

    def test_multi_gpu_qlora_uses_zero_2(self) -> None:
        rendered = _render({}, method=TrainingMethod.QLORA, gpus=2)
        assert rendered.deepspeed is not None
        assert rendered.deepspeed["zero_optimization"]["stage"] == 2


def test_qlora_without_bitsandbytes_is_a_config_failure(monkeypatch) -> None:
    import importlib.util

    from fttrainer.main import StepFailure, check_method_packages

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name)
    )
    with pytest.raises(StepFailure, match="qlora needs bitsandbytes") as caught:
        check_method_packages(TrainingMethod.QLORA)
    assert caught.value.kind is FailureKind.CONFIG
    check_method_packages(TrainingMethod.LORA)  # other methods need nothing more
