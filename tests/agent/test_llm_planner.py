"""The LLM planner against a local OpenAI-compatible server, through the real litellm."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import litellm
import pytest

from ftagent.context import AgentContext
from ftagent.llm_client import CostMeter, LlmClient, LlmSettings
from ftagent.pipeline import run_step
from ftagent.planners.llm import extract_code, extract_json
from ftapi.campaign import PlannerType
from ftapi.plan import Plan
from ftapi.traces import LLM_CALLS_NAME, read_llm_calls

from .llm_server import ScriptedLlmServer
from .workspace import layout_of, make_request, read_plan, read_train_json, write

MINI = "openai/gpt-4o-mini"
BIG = "openai/gpt-4o"


def call_cost(model: str = "gpt-4o-mini", prompt: int = 1000, completion: int = 500) -> float:
    prompt_cost, completion_cost = litellm.cost_per_token(
        model=model, prompt_tokens=prompt, completion_tokens=completion
    )
    return prompt_cost + completion_cost


def llm_spec(server: ScriptedLlmServer, **llm: Any) -> dict[str, Any]:
    config = {"strongModels": [MINI], "apiBase": server.base_url, "maxWorkers": 2}
    config.update(llm)
    return {"planner": {"type": "llm", "llm": config}, "budget": {"upperDataSizeLimit": 10}}


def proposal(strategy: str = "builtin", **config: Any) -> str:
    return json.dumps(
        {
            "hypothesis": "Training on worked solutions in the boxed format will raise accuracy.",
            "reason": "The base model often forgets the boxed answer.",
            "method": "lora",
            "data": {
                "strategy": strategy,
                "sample_size": 8,
                "instructions": "Use problem as instruction, solution + boxed answer as output.",
            },
            "training_config": {"learning_rate": 1e-4, "num_train_epochs": 2, **config},
        }
    )


def python_block(code: str) -> str:
    return f"Here is the script.\n```python\n{textwrap.dedent(code)}\n```\n"


GOOD_SCRIPT = """
    import json
    with open("input.jsonl") as src, open("output.jsonl", "w") as out:
        for line in src:
            row = json.loads(line)["row"]
            answer = row["answer"]
            record = {
                "instruction": row["problem"],
                "input": "",
                "output": (row.get("solution") or "Reasoning.") + f" \\\\boxed{{{answer}}}",
            }
            out.write(json.dumps(record) + "\\n")
"""


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FT_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("FT_SCRIPT_TIMEOUT_S", "60")
    return "sk-test"


def test_good_proposal_with_the_builtin_recipe(tmp_path, llm_server, api_key) -> None:
    llm_server.reply(proposal())
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    result = run_step(request)
    assert result.ok
    plan = read_plan(request)
    assert plan.planner is PlannerType.LLM
    assert plan.hypothesis.startswith("Training on worked solutions")
    assert plan.training_config["learning_rate"] == 1e-4
    assert plan.training_config["num_train_epochs"] == 2.0
    assert plan.recipe.builtin == "deepscaler"
    assert plan.llm_cost == pytest.approx(call_cost())
    assert result.llm_cost == pytest.approx(call_cost())
    sent = llm_server.requests[0]
    assert sent["model"] == "gpt-4o-mini"
    prompt = sent["messages"][1]["content"]
    assert "AIME 2025" in prompt and "Sample rows" in prompt and "problem" in prompt


def test_invalid_json_is_fed_back_and_repaired(tmp_path, llm_server, api_key) -> None:
    llm_server.reply("Sure! {hypothesis: not json")
    llm_server.reply(json.dumps({"hypothesis": "x", "method": "dpo", "data": {"sample_size": 3}}))
    llm_server.reply("```json\n" + proposal() + "\n```")
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert plan.planner is PlannerType.LLM
    assert plan.llm_cost == pytest.approx(3 * call_cost())
    second = llm_server.requests[1]["messages"]
    assert second[-2]["role"] == "assistant"
    assert "invalid JSON" in second[-1]["content"]
    third = llm_server.requests[2]["messages"][-1]["content"]
    assert "schema errors" in third and "method" in third


def test_forbidden_keys_and_outside_paths_are_filtered(tmp_path, llm_server, api_key) -> None:
    llm_server.reply(
        proposal(
            output_dir="/tmp/steal",
            deepspeed="ds.json",
            push_to_hub=True,
            cache_dir="/root/.cache",
            tokenized_path="../../../etc",
            lora_rank="8",
            made_up_key=1,
        )
    )
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert sorted(plan.dropped_keys) == [
        "cache_dir",
        "made_up_key",
        "push_to_hub",
        "tokenized_path",
    ]
    assert sorted(plan.overridden_keys) == ["deepspeed", "output_dir"]
    config = plan.training_config
    assert config["lora_rank"] == 8
    assert "output_dir" not in config and "deepspeed" not in config
    assert config["dataset_dir"].startswith(str(tmp_path / "ws"))
    assert config["template"] == "qwen"


def test_generated_script_builds_the_data(tmp_path, llm_server, api_key) -> None:
    llm_server.reply(proposal("script"))
    llm_server.reply(python_block(GOOD_SCRIPT))
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert plan.recipe.script == "process_data.py"
    assert plan.recipe.builtin is None
    round_dir = layout_of(request).round_dir(0, 0)
    assert (round_dir / "process_data.py").is_file()
    rows = [json.loads(x) for x in (round_dir / "work" / "input.jsonl").read_text().splitlines()]
    assert len(rows) == 8  # sampled to the proposal's size before any LLM saw the data
    records = read_train_json(request)
    assert records and all("\\boxed{" in r["output"] for r in records)
    assert plan.data_stats is not None and plan.data_stats.records == len(records)


def test_crashing_script_is_fed_back(tmp_path, llm_server, api_key) -> None:
    llm_server.reply(proposal("script"))
    llm_server.reply(python_block("import json\nraise RuntimeError('column problem missing')\n"))
    llm_server.reply(python_block(GOOD_SCRIPT))
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    assert read_plan(request).recipe.script == "process_data.py"
    feedback = llm_server.requests[2]["messages"][-1]["content"]
    assert "RuntimeError: column problem missing" in feedback
    assert "exited with status 1" in feedback


def test_script_with_bad_records_is_fed_back(tmp_path, llm_server, api_key) -> None:
    bad = """
        import json
        with open("output.jsonl", "w") as out:
            for i in range(5):
                out.write(json.dumps({"instruction": f"q{i}", "output": ""}) + "\\n")
            out.write("[1, 2]\\n")
    """
    llm_server.reply(proposal("script"))
    llm_server.reply(python_block(bad))
    llm_server.reply("I cannot write code today.")
    llm_server.reply(python_block(GOOD_SCRIPT))
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert plan.recipe.script == "process_data.py"
    assert "attempt 3" in plan.recipe.notes
    first = llm_server.requests[2]["messages"][-1]["content"]
    assert "no usable record" in first and "output: must not be empty" in first
    second = llm_server.requests[3]["messages"][-1]["content"]
    assert "no ```python code block" in second


def test_script_that_keeps_failing_falls_back_to_the_builtin_recipe(
    tmp_path, llm_server, api_key, monkeypatch
) -> None:
    monkeypatch.setenv("FT_SCRIPT_TIMEOUT_S", "1")
    llm_server.reply(proposal("script"))
    for _ in range(3):
        llm_server.reply(python_block("import time\ntime.sleep(30)\n"))
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert plan.recipe.builtin == "deepscaler"
    assert "time limit" in plan.reason and "built-in recipe was used" in plan.reason
    assert plan.llm_cost == pytest.approx(4 * call_cost())


def test_fallback_to_the_next_model_when_one_errors(
    tmp_path, llm_server, api_key, monkeypatch
) -> None:
    monkeypatch.setenv("FT_LLM_RETRIES", "1")
    llm_server.rule("gpt-4o", status=500)
    llm_server.reply(proposal())
    spec = llm_spec(llm_server, strongModels=[BIG, MINI])
    request = make_request(tmp_path, "aime25", spec=spec)
    assert run_step(request).ok
    seen = llm_server.models_seen()
    # The failing model is retried (litellm's num_retries) before the next one is asked.
    assert seen[-1] == "gpt-4o-mini" and set(seen[:-1]) == {"gpt-4o"} and len(seen) >= 3
    plan = read_plan(request)
    assert plan.planner is PlannerType.LLM
    assert plan.llm_cost == pytest.approx(call_cost())  # the failed call cost nothing


def test_every_model_failing_falls_back_to_search(tmp_path, llm_server, api_key) -> None:
    llm_server.rule("gpt-4o-mini", status=500)
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    plan = read_plan(request)
    assert plan.planner is PlannerType.SEARCH
    assert "LLM planner failed" in plan.reason
    assert plan.llm_cost == 0


def test_spent_budget_uses_the_search_planner(tmp_path, llm_server, api_key) -> None:
    spec = llm_spec(llm_server, costBudgetUsd=0.5)
    earlier = make_request(tmp_path, "aime25", spec={**spec, "planner": {"type": "search"}})
    assert run_step(earlier).ok
    layout = layout_of(earlier)
    plan = read_plan(earlier).model_copy(update={"llm_cost": 0.5})
    write(layout.plan_file(0, 0), plan)
    request = make_request(tmp_path, "aime25", iteration=1, spec=spec)
    assert run_step(request).ok
    later = read_plan(request)
    assert later.planner is PlannerType.SEARCH
    assert "LLM cost budget spent ($0.5000 of $0.5000)" in later.reason
    assert llm_server.requests == []


def test_budget_running_out_during_the_step(tmp_path, llm_server, api_key) -> None:
    budget = 1.5 * call_cost()
    for _ in range(3):
        llm_server.reply("not json")
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server, costBudgetUsd=budget))
    assert run_step(request).ok
    plan = read_plan(request)
    assert len(llm_server.requests) == 2  # the third call would exceed the budget
    assert plan.planner is PlannerType.SEARCH
    assert "LLM cost budget spent" in plan.reason
    assert plan.llm_cost == pytest.approx(2 * call_cost())


def test_repair_must_change_the_failed_plan(tmp_path, llm_server, api_key) -> None:
    from ftapi.results import FailureKind, TrainingResult

    llm_server.reply(proposal())
    first = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(first).ok
    write(
        layout_of(first).smoke_dir(0, 0) / "result.json",
        TrainingResult(
            mode="smoke",
            ok=False,
            failure=FailureKind.OOM,
            message="CUDA out of memory",
            log_tail=["torch.OutOfMemoryError: CUDA out of memory"],
        ),
    )
    llm_server.reply(proposal())  # identical: rejected
    llm_server.reply(proposal(per_device_train_batch_size=1, gradient_accumulation_steps=16))
    repair = make_request(tmp_path, "aime25", repair_round=1, spec=llm_spec(llm_server))
    assert run_step(repair).ok
    plan = read_plan(repair)
    assert plan.training_config["per_device_train_batch_size"] == 1
    prompt = llm_server.requests[1]["messages"][1]["content"]
    assert "CUDA out of memory" in prompt and "MUST differ" in prompt
    assert "identical to the failed plan" in llm_server.requests[2]["messages"][-1]["content"]


def test_history_reaches_the_prompt(tmp_path, llm_server, api_key) -> None:
    from .workspace import record_iteration

    first = make_request(tmp_path, "aime25", spec={"budget": {"upperDataSizeLimit": 10}})
    assert run_step(first).ok
    record_iteration(layout_of(first), read_plan(first), score=13.3, losses=[2.0, 1.0, 0.5, 0.4])
    llm_server.reply(proposal())
    request = make_request(tmp_path, "aime25", iteration=1, spec=llm_spec(llm_server))
    assert run_step(request).ok
    prompt = llm_server.requests[0]["messages"][1]["content"]
    assert "validation score: 13.3" in prompt
    assert "expected: 4 | predicted: 5" in prompt
    assert "10:2, 20:1, 30:0.5, 40:0.4" in prompt


def test_at_most_max_workers_calls_at_once(llm_server) -> None:
    for i in range(6):
        llm_server.reply(f"answer {i}", delay_s=0.3)
    client = LlmClient(
        LlmSettings(strong_models=(MINI,), api_base=llm_server.base_url, max_workers=2),
        api_key="k",
        meter=CostMeter(),
    )
    replies = client.complete_many([[{"role": "user", "content": f"q{i}"}] for i in range(6)])
    assert sorted(r.text for r in replies) == [f"answer {i}" for i in range(6)]
    assert llm_server.max_in_flight == 2
    assert client.meter.spent == pytest.approx(6 * call_cost())


def test_weak_pool_defaults_to_strong_models(llm_server) -> None:
    llm_server.reply("formatted")
    settings = LlmSettings(strong_models=(MINI,), api_base=llm_server.base_url)
    client = LlmClient(settings, api_key="k")
    assert client.complete([{"role": "user", "content": "x"}], pool="weak").text == "formatted"


def test_script_can_call_the_llm_and_its_cost_is_counted(tmp_path, llm_server, api_key) -> None:
    script = """
        import json
        from ftagent.script_api import complete_many
        rows = [json.loads(line)["row"] for line in open("input.jsonl")]
        reasons = complete_many([r["problem"] for r in rows[:2]], pool="weak")
        with open("output.jsonl", "w") as out:
            for row, reason in zip(rows, reasons):
                text = f"{reason} \\\\boxed{{{row['answer']}}}"
                out.write(json.dumps({"instruction": row["problem"], "output": text}) + "\\n")
    """
    llm_server.reply(proposal("script"))
    llm_server.reply(python_block(script))
    llm_server.reply("Reasoning A.", prompt_tokens=100, completion_tokens=50)
    llm_server.reply("Reasoning B.", prompt_tokens=100, completion_tokens=50)
    spec = llm_spec(llm_server, weakModels=[MINI])
    request = make_request(tmp_path, "aime25", spec=spec)
    assert run_step(request).ok
    plan = read_plan(request)
    records = read_train_json(request)
    assert {r["output"].split(" ")[0] for r in records} == {"Reasoning"}
    expected = 2 * call_cost() + 2 * call_cost(prompt=100, completion=50)
    assert plan.llm_cost == pytest.approx(expected)
    assert llm_server.requests[2]["messages"][-1]["role"] == "user"


def test_reply_parsing_helpers() -> None:
    assert extract_json('noise {"a": 1} trailing') == {"a": 1}
    assert extract_json('```json\n{"b": 2}\n```') == {"b": 2}
    assert extract_code("```python\nprint(1)\n```") == "print(1)\n"
    assert extract_code("no code") is None


def test_plan_on_disk_is_a_valid_contract(tmp_path, llm_server, api_key) -> None:
    llm_server.reply(proposal())
    request = make_request(tmp_path, "aime25", spec=llm_spec(llm_server))
    assert run_step(request).ok
    raw = json.loads(layout_of(request).plan_file(0, 0).read_text())
    assert raw["llmCost"] > 0 and raw["trainingConfig"]["template"] == "qwen"
    assert Plan.model_validate(raw).iteration == 0
    ctx = AgentContext.from_request(make_request(tmp_path, "aime25", iteration=1, write_data=False))
    assert ctx.history.llm_spent == pytest.approx(call_cost())


def test_rate_limits_and_server_errors_are_retried_before_the_next_model(llm_server) -> None:
    llm_server.fail(429)
    llm_server.fail(503)
    llm_server.reply("answered after two retries")
    client = LlmClient(
        LlmSettings(strong_models=(MINI,), api_base=llm_server.base_url), api_key="k"
    )
    reply = client.complete([{"role": "user", "content": "x"}])
    assert reply.text == "answered after two retries"
    assert len(llm_server.requests) == 3
    assert client.meter.spent == pytest.approx(call_cost())  # failed calls cost nothing


def test_every_planner_call_is_traced_for_the_dashboard(
    tmp_path, llm_server, api_key, monkeypatch
) -> None:
    """``llm_calls.jsonl`` in the round folder: each attempt with its prompt, reply or error,
    tokens, cost and latency; the key masked even where a reply repeats it."""
    monkeypatch.setenv("FT_LLM_RETRIES", "0")
    llm_server.rule("gpt-4o", status=500)
    llm_server.reply("not JSON, but the key: " + api_key)
    llm_server.reply(proposal())
    spec = llm_spec(llm_server, strongModels=[BIG, MINI])
    request = make_request(tmp_path, "aime25", spec=spec)
    assert run_step(request).ok
    path = layout_of(request).round_dir(0, 0) / LLM_CALLS_NAME
    calls = read_llm_calls(path)
    assert [c.model for c in calls] == [BIG, MINI, BIG, MINI]
    failed, first, _, second = calls
    assert failed.error and failed.response is None and failed.cost_usd == 0
    assert first.response == "not JSON, but the key: ***"
    assert first.messages[1].role == "user" and "AIME 2025" in first.messages[1].content
    assert first.prompt_tokens == 1000 and first.completion_tokens == 500
    assert second.cost_usd == pytest.approx(call_cost()) and second.latency_s > 0
    assert "invalid JSON" in second.messages[-1].content
    assert api_key not in path.read_text()
