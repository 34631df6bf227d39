"""The LLM planner: experiments proposed by models through litellm.

1. Unless the campaign's LLM cost budget is already spent, a strong model gets the benchmark,
   the model, raw-data samples with schema and token statistics, the history (scores, loss
   curves, wrong validation answers, smoke failures) and, for a repair, the failed plan and
   its error. It answers with a JSON proposal validated by pydantic
   (:class:`LlmProposal`); invalid JSON, a schema error, a forbidden method or a repair that
   repeats the failed plan is fed back and retried, a bounded number of times.
2. The data comes from the built-in recipe, or from a data-processing script a strong model
   writes for the chosen datasets. The script runs in the sandbox (:mod:`ftagent.sandbox`:
   bubblewrap, no key, no network, only its scratch folder writable; refused when no sandbox
   can run, unless ``FT_UNSAFE_NO_SANDBOX=1``) on a sample drawn before any LLM sees the data,
   and reaches the models only through the agent's LLM gateway (:mod:`ftagent.gateway`),
   which meters its calls into the step's cost and stops them at the campaign's budget; a
   crash, timeout or bad output is fed back for a bounded number of attempts.
3. Whenever the LLM cannot deliver (every model failed, retries exhausted, the cost budget ran
   out), the step still produces a plan: the search planner or the built-in recipe takes
   over, and the plan's reason says so.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ftagent.config_filter import filter_config
from ftagent.context import AgentContext
from ftagent.errors import BudgetExhausted, LlmError, SandboxError
from ftagent.gateway import GATEWAY_LOG_NAME, LlmGateway
from ftagent.llm_client import CostMeter, LlmClient, LlmSettings, Message
from ftagent.planners import defaults
from ftagent.planners.base import Draft, Proposal, plan_signature
from ftagent.planners.data import builtin_data
from ftagent.planners.llm_views import (
    dataset_views,
    history_view,
    sample_rows,
    wrong_answers_view,
)
from ftagent.planners.search import SearchPlanner
from ftagent.prompting import render
from ftagent.recipes import split_sample
from ftagent.sandbox import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    gateway_parent,
    open_script_output,
    require_sandbox,
    run_script,
    scratch_folder,
)
from ftagent.script_api import script_env
from ftagent.validation import check_records
from ftapi.campaign import LlmConfig, PlannerType, TrainingMethod
from ftapi.errors import format_validation_error
from ftapi.hyperparameters import finetuning_type
from ftapi.jsonlines import JsonLineError, parse_json_lines
from ftapi.plan import OPERATOR_MANAGED_KEYS, DataRecipe
from ftapi.traces import LLM_CALLS_NAME

log = logging.getLogger(__name__)

PROPOSAL_ATTEMPTS = 3
SCRIPT_ATTEMPTS = 3
MAX_INVALID_SHARE = 0.1
"""A script whose output has more invalid records than this share is sent back."""
SCRIPT_NAME = "process_data.py"
INPUT_NAME = "input.jsonl"
OUTPUT_NAMES = ("output.jsonl", "output.json")
MAX_OUTPUT_BYTES = 512 * 1024**2


class DataPlan(BaseModel):
    """How the experiment's training data is built."""

    model_config = ConfigDict(extra="ignore")

    strategy: Literal["builtin", "script"] = "builtin"
    sample_size: int = Field(ge=1)
    """Training examples to build (at most the campaign's limit)."""
    instructions: str = ""
    """For strategy script: what the data-processing script must do."""


class LlmProposal(BaseModel):
    """The JSON object the model must answer with."""

    model_config = ConfigDict(extra="ignore")

    hypothesis: str = Field(min_length=1, max_length=2000)
    """What this experiment tests and why it should raise the validation score."""
    reason: str = ""
    """The evidence from the history behind the hypothesis."""
    method: TrainingMethod
    data: DataPlan
    training_config: dict[str, Any] = Field(default_factory=dict)
    """Flat LLaMA-Factory training arguments (no operator-managed keys, no paths)."""


class ReplyInvalid(ValueError):
    """A model reply that cannot be used (fed back to the model)."""


def extract_json(reply: str) -> Any:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    candidates = [reply.strip()]
    candidates += re.findall(r"```(?:json)?\s*(.*?)```", reply, flags=re.DOTALL)
    start, end = reply.find("{"), reply.rfind("}")
    if 0 <= start < end:
        candidates.append(reply[start : end + 1])
    error = "no JSON object found"
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    raise ReplyInvalid(error)


def extract_code(reply: str) -> str | None:
    """The python code block of a reply (the first fenced block as a fallback)."""
    for pattern in (r"```python\s*\n(.*?)```", r"```\s*\n(.*?)```"):
        match = re.search(pattern, reply, flags=re.DOTALL)
        if match and match.group(1).strip():
            return match.group(1)
    return None


def _failed_plan_signature(ctx: AgentContext) -> str | None:
    previous = ctx.history.previous_round()
    if ctx.repair_round == 0 or previous is None or previous.plan is None:
        return None
    plan = previous.plan
    config = {k: v for k, v in plan.training_config.items() if k != "cutoff_len"}
    return plan_signature(plan.method, config, plan.recipe.sample_size, 0)


def parse_proposal(reply: str, ctx: AgentContext) -> LlmProposal:
    """Validate a reply as a proposal for this campaign; ReplyInvalid says what is wrong."""
    data = extract_json(reply)
    if not isinstance(data, dict):
        raise ReplyInvalid("the reply must be one JSON object")
    try:
        proposal = LlmProposal.model_validate(data)
    except ValidationError as exc:
        raise ReplyInvalid("schema errors:\n" + format_validation_error(exc)) from exc
    if proposal.method not in ctx.allowed_methods:
        raise ReplyInvalid(
            f"method {proposal.method} is not allowed; choose one of "
            f"{', '.join(map(str, ctx.allowed_methods))}"
        )
    proposal.data.sample_size = min(proposal.data.sample_size, ctx.limit)
    failed = _failed_plan_signature(ctx)
    if failed is not None:
        # Compare as the plan would store it: filtered and coerced like the failed plan.
        filtered = filter_config(
            proposal.training_config,
            workspace=ctx.workspace,
            forced={"finetuning_type": finetuning_type(proposal.method)},
        ).config
        config = {k: v for k, v in filtered.items() if k != "cutoff_len"}
        mine = plan_signature(proposal.method, config, proposal.data.sample_size, 0)
        if mine == failed:
            raise ReplyInvalid(
                "the proposal is identical to the failed plan; change the configuration, the "
                "method or the data size to fix the failure"
            )
    return proposal


class LlmPlanner:
    """Proposals, data scripts and configs from LLMs, with the fallbacks described above."""

    def __init__(
        self,
        config: LlmConfig,
        *,
        api_key: str | None,
        script_timeout_s: float = DEFAULT_TIMEOUT_S,
        script_memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        self.config = config
        self.api_key = api_key
        self.settings = LlmSettings(
            strong_models=tuple(config.strong_models),
            weak_models=tuple(config.weak_models),
            api_base=config.api_base,
            max_workers=config.max_workers,
        )
        self.script_timeout_s = script_timeout_s
        self.script_memory_mb = script_memory_mb

    def draft(self, ctx: AgentContext) -> Draft:
        meter = CostMeter(limit=self.config.cost_budget_usd, spent_before=ctx.history.llm_spent)
        client = LlmClient(
            self.settings,
            api_key=self.api_key,
            meter=meter,
            trace_path=ctx.round_dir / LLM_CALLS_NAME,
        )
        seed = ctx.seed + 1000 * ctx.iteration + ctx.repair_round
        try:
            proposal, data_plan = self._propose(ctx, client, seed)
        except BudgetExhausted as exc:
            return self._fallback(ctx, f"{exc}; the search planner took over.", meter)
        except LlmError as exc:
            return self._fallback(
                ctx, f"The LLM planner failed ({exc}); the search planner took over.", meter
            )
        if data_plan.strategy == "script":
            try:
                records, recipe = self._script_data(ctx, client, proposal, data_plan)
            except (LlmError, SandboxError) as exc:
                log.warning("generated data script failed: %s", exc)
                proposal.reason += (
                    f" The generated data script failed ({exc}); the built-in recipe was used."
                )
                records, recipe = builtin_data(ctx, proposal.sample_size, seed)
        else:
            records, recipe = builtin_data(ctx, proposal.sample_size, seed)
        return Draft(proposal=proposal, records=records, recipe=recipe, llm_cost=meter.spent)

    @staticmethod
    def _fallback(ctx: AgentContext, why: str, meter: CostMeter) -> Draft:
        log.warning("%s", why)
        draft = SearchPlanner(preface=why).draft(ctx)
        draft.llm_cost = meter.spent
        return draft

    # ------------------------------------------------------------------ proposal

    def _proposal_prompt(self, ctx: AgentContext, seed: int) -> list[Message]:
        method = defaults.default_method(ctx.allowed_methods, ctx.model, ctx.spec.training.gpus)
        default_config = defaults.training_config(
            method,
            ctx.model,
            gpus=ctx.spec.training.gpus,
            learning_rate=defaults.default_learning_rate(method, ctx.model),
            epochs=defaults.default_epochs(ctx.model),
            lora_rank=None,
        )
        repair = None
        previous = ctx.history.previous_round()
        if ctx.repair_round > 0 and previous is not None and previous.plan is not None:
            smoke = previous.smoke
            repair = {
                "round": ctx.repair_round,
                "failure": str(smoke.failure) if smoke and smoke.failure else "unknown",
                "error": (smoke.message if smoke else "") or "no smoke result was written",
                "log_tail": "\n".join(smoke.log_tail[-30:]) if smoke else "",
                "method": str(previous.plan.method),
                "sample_size": previous.plan.recipe.sample_size,
                "config": {
                    k: v
                    for k, v in previous.plan.training_config.items()
                    if k not in OPERATOR_MANAGED_KEYS
                },
            }
        best = ctx.history.best()
        user = render(
            "proposal",
            iteration=ctx.iteration,
            repair=repair,
            benchmark=ctx.benchmark,
            description=ctx.description,
            model_summary=ctx.model.summary(),
            limit=ctx.limit,
            allowed_methods=[str(m) for m in ctx.allowed_methods],
            gpus=ctx.spec.training.gpus,
            managed_keys=sorted(OPERATOR_MANAGED_KEYS),
            datasets=dataset_views(ctx, seed),
            default_config=default_config,
            baseline_score=ctx.history.baseline_score,
            history=history_view(ctx),
            best={"index": best.index, "score": best.score} if best else None,
            wrong_answers=wrong_answers_view(ctx),
            schema=LlmProposal.model_json_schema(),
        )
        return [{"role": "system", "content": render("system")}, {"role": "user", "content": user}]

    def _propose(
        self, ctx: AgentContext, client: LlmClient, seed: int
    ) -> tuple[Proposal, DataPlan]:
        messages = self._proposal_prompt(ctx, seed)
        error = ""
        for attempt in range(1, PROPOSAL_ATTEMPTS + 1):
            reply = client.complete(messages, pool="strong", json_mode=True)
            try:
                parsed = parse_proposal(reply.text, ctx)
            except ReplyInvalid as exc:
                error = str(exc)
                log.warning("proposal attempt %d rejected: %s", attempt, error)
                messages = [
                    *messages,
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": render("fix_reply", error=error)},
                ]
                continue
            config = dict(parsed.training_config)
            config["finetuning_type"] = finetuning_type(parsed.method)
            proposal = Proposal(
                planner=PlannerType.LLM,
                hypothesis=parsed.hypothesis,
                reason=parsed.reason or f"Proposed by {reply.model}.",
                method=parsed.method,
                training_config=config,
                sample_size=parsed.data.sample_size,
                data_seed=seed,
                datasets=[d.key for d in ctx.datasets],
            )
            return proposal, parsed.data
        raise LlmError(f"no valid proposal after {PROPOSAL_ATTEMPTS} attempts: {error}")

    # ------------------------------------------------------------------ data script

    def _script_data(
        self, ctx: AgentContext, client: LlmClient, proposal: Proposal, plan: DataPlan
    ) -> tuple[list[dict[str, Any]], DataRecipe]:
        require_sandbox()  # SandboxUnavailable (the step fails, naming the fix) before any cost
        ctx.round_dir.mkdir(parents=True, exist_ok=True)
        work = scratch_folder(ctx.round_dir / "work")
        rows: list[dict[str, Any]] = []
        shares = split_sample(proposal.sample_size, len(ctx.datasets))
        for dataset, share in zip(ctx.datasets, shares, strict=True):
            rows += sample_rows(ctx, dataset.key, share, proposal.data_seed)
        with (work / INPUT_NAME).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        user = render(
            "data_script",
            benchmark=ctx.benchmark,
            description=ctx.description,
            instructions=plan.instructions or proposal.hypothesis,
            n_rows=len(rows),
            datasets=dataset_views(ctx, proposal.data_seed),
            limit=proposal.sample_size,
            max_tokens=ctx.max_record_tokens,
            timeout_s=int(self.script_timeout_s),
            memory_mb=self.script_memory_mb,
        )
        messages: list[Message] = [
            {"role": "system", "content": render("system")},
            {"role": "user", "content": user},
        ]
        with self._gateway(ctx, client) as gateway:
            return self._script_attempts(ctx, client, gateway, proposal, messages, work, rows)

    def _gateway(self, ctx: AgentContext, client: LlmClient) -> LlmGateway:
        """The scripts' only way to the models: the key stays here; the budget is the
        campaign's, against the operator's books (or the earlier plans, when higher)."""
        return LlmGateway(
            self.settings,
            api_key=self.api_key,
            meter=client.meter,
            budget_usd=self.config.cost_budget_usd,
            spent_before_usd=max(ctx.request.llm_spent_usd, client.meter.spent_before),
            log_path=ctx.round_dir / GATEWAY_LOG_NAME,
            folder_parent=gateway_parent(),
        )

    def _script_attempts(
        self,
        ctx: AgentContext,
        client: LlmClient,
        gateway: LlmGateway,
        proposal: Proposal,
        messages: list[Message],
        work: Path,
        rows: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], DataRecipe]:
        error = ""
        for attempt in range(1, SCRIPT_ATTEMPTS + 1):
            reply = client.complete(messages, pool="strong")
            try:
                records = self._run_once(ctx, gateway, reply.text, work)
            except SandboxError as exc:
                error = str(exc)
                log.warning("data script attempt %d failed: %s", attempt, error)
                messages = [
                    *messages,
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": render("fix_script", error=error[:3000])},
                ]
                continue
            recipe = DataRecipe(
                datasets=[d.key for d in ctx.datasets],
                script=SCRIPT_NAME,
                sample_size=proposal.sample_size,
                seed=proposal.data_seed,
                notes=(
                    f"Generated script (attempt {attempt}) turned {len(rows)} sampled raw rows "
                    f"into {len(records)} records."
                ),
            )
            return records, recipe
        raise SandboxError(f"no usable data after {SCRIPT_ATTEMPTS} script attempts: {error}")

    def _run_once(
        self, ctx: AgentContext, gateway: LlmGateway, reply: str, work: Path
    ) -> list[dict[str, Any]]:
        code = extract_code(reply)
        if code is None:
            raise SandboxError("the reply has no ```python code block")
        script = ctx.round_dir / SCRIPT_NAME
        script.write_text(code, encoding="utf-8")
        for name in OUTPUT_NAMES:
            (work / name).unlink(missing_ok=True)
        paths = ctx.request.paths
        result = run_script(
            script,
            cwd=work,
            timeout_s=self.script_timeout_s,
            memory_mb=self.script_memory_mb,
            env=script_env(gateway.socket_path),  # never the key: the gateway holds it
            read_only=[ctx.layout.raw_dataset_dir(d.key) for d in ctx.datasets],
            shared=[gateway.socket_path.parent],
            hide=[paths.workspace, paths.datasets, paths.models],
        )
        if not result.ok:
            raise SandboxError(result.describe())
        items = _read_output(work)
        checked = check_records(
            items,
            leak_index=ctx.leak_index,
            tokens=ctx.tokens,
            max_tokens=ctx.max_record_tokens,
        )
        if not checked.records:
            raise SandboxError(
                "the output holds no usable record: "
                + (checked.summary() + "; " + "; ".join(checked.invalid_examples))
            )
        if checked.invalid > MAX_INVALID_SHARE * len(items):
            raise SandboxError(
                f"{checked.invalid} of {len(items)} output records are invalid: "
                + "; ".join(checked.invalid_examples)
            )
        return [record.to_json() for record in checked.records]


def _read_output(work: Path) -> list[Any]:
    """The script's records from output.jsonl (or output.json); SandboxError when unusable."""
    for name in OUTPUT_NAMES:
        try:
            raw = open_script_output(work / name, MAX_OUTPUT_BYTES)
        except ValueError as exc:
            raise SandboxError(str(exc)) from exc
        if raw is None:
            continue
        text = raw.decode("utf-8", errors="replace")
        if name.endswith(".jsonl"):
            try:
                return [item for _, item in parse_json_lines(text)]
            except JsonLineError as exc:
                raise SandboxError(f"{name} line {exc.number} is not JSON: {exc.msg}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SandboxError(f"{name} is not JSON: {exc.msg}") from exc
        if not isinstance(data, list):
            raise SandboxError(f"{name} must hold a JSON array of records")
        return data
    raise SandboxError(f"the script wrote no {' or '.join(OUTPUT_NAMES)} in its folder")


__all__ = ["LlmPlanner", "LlmProposal", "extract_code", "extract_json", "parse_proposal"]
