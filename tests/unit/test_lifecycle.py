"""The pure lifecycle (ftoperator.lifecycle.decide), driven through whole campaigns by a small
world that turns each created Job into an outcome chosen by the test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ftapi.campaign import EvaluationSetStatus, FineTuneCampaign, IterationPhase, Phase
from ftapi.results import FailureKind, StepResult
from ftapi.steps import StepKind
from ftoperator.lifecycle import (
    CreateJob,
    Decision,
    JobState,
    ObservedJob,
    Settings,
    decide,
    job_name,
)

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTINGS = Settings(max_infra_retries=2, backoff_base=5, backoff_max=20)


def campaign(**spec) -> FineTuneCampaign:
    body = {
        "apiVersion": "ftagent.dev/v1alpha1",
        "kind": "FineTuneCampaign",
        "metadata": {"name": "demo", "namespace": "ns", "generation": 1},
        "spec": {"baseModel": "Qwen/Qwen2.5-0.5B", "benchmark": "aime25", **spec},
    }
    return FineTuneCampaign.model_validate(body)


def ok(step: StepKind, **fields) -> StepResult:
    return StepResult(step=step, ok=True, **fields)


def default_outcome(create: CreateJob) -> ObservedJob | StepResult:
    req = create.request
    step = req.step
    if step is StepKind.BASELINE:
        return ok(step, scores={"validation": 10.0, "test": 8.0})
    if step is StepKind.AGENT:
        return ok(step, hypothesis=f"h{req.iteration}", method="lora", llm_cost=0.01)
    if step is StepKind.TRAIN:
        return ok(step, train_loss=1.5)
    if step is StepKind.EVAL:
        return ok(step, scores={"validation": 10.0 + 5 * (req.iteration or 0)})
    if step is StepKind.FINAL:
        return ok(step, scores={"test": 30.0})
    return ok(step)


Outcome = Callable[[CreateJob], "ObservedJob | StepResult | None"]


class World:
    """Runs decide() in a loop; each created Job finishes one tick later with an outcome."""

    def __init__(self, ftc: FineTuneCampaign, outcome: Outcome = default_outcome) -> None:
        self.campaign = ftc
        self.outcome = outcome
        self.jobs: dict[str, ObservedJob] = {}
        self.created: list[CreateJob] = []
        self.now = T0
        self.decisions: list[Decision] = []

    def tick(self, seconds: float = 1.0) -> Decision:
        decision = decide(self.campaign, self.jobs, self.now, SETTINGS)
        self.decisions.append(decision)
        self.campaign = self.campaign.model_copy(update={"status": decision.status})
        for create in decision.create:
            assert create.name not in self.jobs, f"duplicate Job {create.name}"
            self.created.append(create)
            got = self.outcome(create) or default_outcome(create)
            if isinstance(got, StepResult):
                state = JobState.SUCCEEDED if got.ok else JobState.FAILED
                got = ObservedJob(
                    create.name,
                    state,
                    result=got,
                    started_at=self.now,
                    finished_at=self.now + timedelta(seconds=10),
                    gpus=1,
                )
            self.jobs[create.name] = got
        for delete in decision.delete:
            self.jobs.pop(delete.name, None)
        self.now += timedelta(seconds=seconds)
        return decision

    def run(self, ticks: int = 200, seconds: float = 1.0) -> FineTuneCampaign:
        for _ in range(ticks):
            self.tick(seconds)
            if self.campaign.status.phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.SUSPENDED):
                break
        return self.campaign

    def steps(self) -> list[str]:
        return [c.name for c in self.created]


def test_full_campaign_succeeds_with_scores():
    world = World(campaign(budget={"maxIterations": 2}))
    final = world.run()
    status = final.status
    assert status.phase is Phase.SUCCEEDED
    assert world.steps() == [
        "demo-prepare-0",
        "demo-baseline-0",
        "demo-agent-0-r0-0",
        "demo-smoke-0-r0-0",
        "demo-train-0-0",
        "demo-eval-0-0",
        "demo-agent-1-r0-0",
        "demo-smoke-1-r0-0",
        "demo-train-1-0",
        "demo-eval-1-0",
        "demo-final-1-0",
    ]
    assert status.baseline.validation == 10.0
    assert [it.validation for it in status.iterations] == [10.0, 15.0]
    assert [it.accepted for it in status.iterations] == [False, True]
    assert status.best.iteration == 1 and status.best.test == 30.0
    assert status.llm_cost == 0.02
    assert status.gpu_seconds == 10 * 8  # baseline, 2x(smoke, train, eval), final
    conds = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conds["Ready"] == ("True", "Succeeded")
    assert conds["Reconciling"][0] == "False"
    assert status.observed_generation == 1
    final_request = world.created[-1].request
    assert final_request.splits == ["test"] and final_request.iteration == 1


def test_no_improvement_reuses_baseline_test_score_without_final_job():
    world = World(
        campaign(budget={"maxIterations": 1}),
        lambda c: (
            ok(StepKind.EVAL, scores={"validation": 5.0})
            if c.request.step is StepKind.EVAL
            else None
        ),
    )
    final = world.run()
    assert final.status.phase is Phase.SUCCEEDED
    assert not [n for n in world.steps() if "final" in n]
    assert final.status.best.iteration is None and final.status.best.test == 8.0


def smoke_fails(times: int, kind: FailureKind = FailureKind.CONFIG) -> Outcome:
    def outcome(create: CreateJob):
        req = create.request
        if req.step is StepKind.SMOKE and req.iteration == 0 and req.repair_round < times:
            return StepResult(
                step=StepKind.SMOKE, ok=False, failure=kind, message="ValueError: bad lora_rank"
            )
        return None

    return outcome


def test_smoke_failure_goes_back_to_the_agent_for_repair():
    world = World(campaign(budget={"maxIterations": 1}), smoke_fails(1))
    final = world.run()
    it = final.status.iterations[0]
    assert it.phase is IterationPhase.SUCCEEDED and it.repair_rounds == 1
    assert "demo-agent-0-r1-0" in world.steps()
    repair = next(c for c in world.created if c.name == "demo-agent-0-r1-0")
    assert repair.request.repair_round == 1
    assert any(e.reason == "SmokeFailed" for d in world.decisions for e in d.events)


def test_repeated_smoke_failures_fail_the_iteration_and_the_loop_goes_on():
    world = World(campaign(budget={"maxIterations": 2, "maxRepairRounds": 2}), smoke_fails(9))
    final = world.run()
    first, second = final.status.iterations
    assert first.phase is IterationPhase.FAILED and first.repair_rounds == 2
    assert "no repair rounds left" in first.message
    assert second.phase is IterationPhase.SUCCEEDED
    assert final.status.phase is Phase.SUCCEEDED


def test_environment_failure_in_smoke_is_not_repaired():
    world = World(campaign(budget={"maxIterations": 1}), smoke_fails(9, FailureKind.ENVIRONMENT))
    final = world.run()
    assert final.status.iterations[0].repair_rounds == 0
    assert "not repairable" in final.status.iterations[0].message


def test_failed_training_run_is_recorded_and_the_loop_goes_on():
    def outcome(create):
        if create.request.step is StepKind.TRAIN and create.request.iteration == 0:
            return StepResult(step=StepKind.TRAIN, ok=False, failure="oom", message="CUDA OOM")
        return None

    final = World(campaign(budget={"maxIterations": 2}), outcome).run()
    first, second = final.status.iterations
    assert first.phase is IterationPhase.FAILED and "CUDA OOM" in first.message
    assert second.validation == 15.0 and final.status.best.iteration == 1


def test_evicted_pod_is_retried_with_backoff_under_a_new_name():
    evictions = {"n": 0}

    def outcome(create):
        if create.request.step is StepKind.TRAIN and evictions["n"] < 2:
            evictions["n"] += 1
            return ObservedJob(
                create.name,
                JobState.FAILED,
                failure=FailureKind.INFRASTRUCTURE,
                message="pod evicted",
            )
        return None

    world = World(campaign(budget={"maxIterations": 1}), outcome)
    final = world.run(seconds=3)
    assert final.status.phase is Phase.SUCCEEDED
    trains = [n for n in world.steps() if "train" in n]
    assert trains == ["demo-train-0-0", "demo-train-0-1", "demo-train-0-2"]
    retry = [d for d in world.decisions if any(e.reason == "StepRetry" for e in d.events)]
    assert retry and retry[0].requeue_after == 5


def test_infrastructure_retries_are_bounded():
    def outcome(create):
        if create.request.step is StepKind.PREPARE:
            return ObservedJob(
                create.name,
                JobState.FAILED,
                failure=FailureKind.INFRASTRUCTURE,
                message="pod evicted",
            )
        return None

    final = World(campaign(), outcome).run(seconds=30)
    assert final.status.phase is Phase.FAILED
    assert "gave up after 2 retries" in final.status.message


def test_deleted_job_counts_as_infrastructure_failure():
    world = World(
        campaign(budget={"maxIterations": 1}),
        lambda c: ObservedJob(c.name, JobState.RUNNING) if c.name == "demo-prepare-0" else None,
    )
    world.tick()
    world.tick()
    assert world.campaign.status.active_job == "demo-prepare-0"
    del world.jobs["demo-prepare-0"]
    world.tick(seconds=60)
    assert world.campaign.status.step_attempt == 1
    world.tick()
    assert "demo-prepare-1" in world.steps()


def test_permanent_prepare_failure_fails_the_campaign():
    final = World(
        campaign(),
        lambda c: (
            StepResult(
                step=StepKind.PREPARE,
                ok=False,
                failure="environment",
                message="404 Repository Not Found for Qwen/Nope",
            )
            if c.request.step is StepKind.PREPARE
            else None
        ),
    ).run()
    assert final.status.phase is Phase.FAILED
    assert "Repository Not Found" in final.status.message
    conds = {c.type: c.status for c in final.status.conditions}
    assert conds["Failed"] == "True" and conds["Ready"] == "False"


def test_timeout_stops_the_loop_and_finalizes():
    world = World(
        campaign(budget={"maxIterations": 50, "timeout": "30s"}),
        lambda c: (
            ObservedJob(c.name, JobState.RUNNING)
            if c.request.step is StepKind.TRAIN and c.request.iteration == 1
            else None
        ),
    )
    final = world.run(seconds=2)
    assert final.status.phase is Phase.SUCCEEDED
    last = final.status.iterations[-1]
    assert last.phase is IterationPhase.FAILED and "timeout" in last.message
    assert any(d.delete for d in world.decisions)
    assert final.status.iterations_started < 50


def test_suspend_waits_for_the_running_step_then_resumes():
    world = World(campaign(budget={"maxIterations": 1}))
    hold = {"on": True}
    world.outcome = lambda c: (
        ObservedJob(c.name, JobState.RUNNING)
        if c.request.step is StepKind.AGENT and hold["on"]
        else None
    )
    for _ in range(4):
        world.tick()
    spec = world.campaign.spec.model_copy(update={"suspend": True})
    world.campaign = world.campaign.model_copy(update={"spec": spec})
    world.tick()
    assert world.campaign.status.phase is Phase.RUNNING  # the agent is still running
    world.jobs["demo-agent-0-r0-0"] = ObservedJob(
        "demo-agent-0-r0-0",
        JobState.SUCCEEDED,
        result=ok(StepKind.AGENT, hypothesis="h", method="lora"),
    )
    world.tick()
    assert world.campaign.status.phase is Phase.SUSPENDED
    assert not any("smoke" in n for n in world.steps())
    created_before = len(world.created)
    world.tick(seconds=3600)
    assert len(world.created) == created_before
    spec = world.campaign.spec.model_copy(update={"suspend": False})
    world.campaign = world.campaign.model_copy(update={"spec": spec})
    final = world.run()
    assert final.status.phase is Phase.SUCCEEDED
    assert any("smoke" in n for n in world.steps())


def test_changing_an_immutable_field_stalls_naming_the_field():
    world = World(campaign(budget={"maxIterations": 1}))
    world.tick()
    spec = world.campaign.spec.model_copy(update={"benchmark": "aime24"})
    world.campaign = world.campaign.model_copy(update={"spec": spec})
    decision = world.tick()
    assert not decision.create
    stalled = next(c for c in decision.status.conditions if c.type == "Stalled")
    assert stalled.status == "True" and "spec.benchmark" in stalled.message


def test_changing_how_scores_are_measured_stalls_and_restoring_it_resumes():
    world = World(campaign(budget={"maxIterations": 1}))
    world.tick()
    original = world.campaign.spec
    evaluation = original.evaluation.model_copy(update={"samples_per_item": 4})
    world.campaign = world.campaign.model_copy(
        update={"spec": original.model_copy(update={"evaluation": evaluation})}
    )
    decision = world.tick()
    assert not decision.create
    stalled = next(c for c in decision.status.conditions if c.type == "Stalled")
    assert stalled.status == "True" and "spec.evaluation.samplesPerItem" in stalled.message
    assert "spec.evaluation.validationLimit" not in stalled.message
    world.campaign = world.campaign.model_copy(update={"spec": original})
    assert world.run().status.phase is Phase.SUCCEEDED


def test_campaigns_locked_before_scoring_was_locked_are_not_stalled():
    from ftapi.campaign import LockedSpec

    ftc = campaign()
    locked = LockedSpec.of(ftc.spec).model_dump(by_alias=True)
    del locked["scoring"]  # as written by an operator that did not lock it
    old = LockedSpec.model_validate(locked)
    evaluation = ftc.spec.evaluation.model_copy(update={"validation_limit": 7})
    assert old.changed_fields(ftc.spec.model_copy(update={"evaluation": evaluation})) == []
    assert LockedSpec.of(ftc.spec).changed_fields(
        ftc.spec.model_copy(update={"evaluation": evaluation})
    ) == ["evaluation.validationLimit"]


def test_raising_max_iterations_continues_a_finished_campaign():
    world = World(campaign(budget={"maxIterations": 1}))
    assert world.run().status.phase is Phase.SUCCEEDED
    spec = world.campaign.spec.model_copy(
        update={"budget": world.campaign.spec.budget.model_copy(update={"max_iterations": 2})}
    )
    world.campaign = world.campaign.model_copy(update={"spec": spec})
    final = world.run()
    assert final.status.phase is Phase.SUCCEEDED
    assert final.status.iterations_started == 2
    assert final.status.best.iteration == 1


def test_deciding_twice_on_the_same_observation_creates_the_same_job_once():
    ftc = campaign()
    first = decide(ftc, {}, T0, SETTINGS)
    again = decide(ftc, {}, T0, SETTINGS)
    assert [c.name for c in first.create] == [c.name for c in again.create] == ["demo-prepare-0"]
    # After a restart with the job already created but the status not yet written:
    seen = {"demo-prepare-0": ObservedJob("demo-prepare-0", JobState.RUNNING)}
    assert not decide(ftc, seen, T0, SETTINGS).create


def test_job_names_fit_in_a_label_value():
    long = "a" * 80
    name = job_name(long, StepKind.SMOKE, 12, 3, 2)
    assert len(name) <= 63 and name.endswith("-smoke-12-r3-2")
    assert name != job_name("a" * 81, StepKind.SMOKE, 12, 3, 2)


def test_prepare_records_the_evaluation_set_and_every_evaluation_carries_its_hash():
    sha = "ab" * 32

    def outcome(create: CreateJob) -> StepResult | None:
        if create.request.step is StepKind.PREPARE:
            summary = EvaluationSetStatus(items=30, validation=15, test=15, sha256=sha)
            return ok(StepKind.PREPARE, evaluation_set=summary)
        return None

    world = World(campaign(budget={"maxIterations": 2}), outcome)
    final = world.run()
    assert final.status.phase is Phase.SUCCEEDED
    assert final.status.evaluation_set == EvaluationSetStatus(
        items=30, validation=15, test=15, sha256=sha
    )
    by_step = {c.request.step: c.request.split_sha256 for c in world.created}
    assert by_step[StepKind.BASELINE] == by_step[StepKind.EVAL] == by_step[StepKind.FINAL] == sha
    assert by_step[StepKind.AGENT] is None and by_step[StepKind.TRAIN] is None
    assert any("validation 15, test 15" in e.message for d in world.decisions for e in d.events)


def test_judge_calls_reach_llm_cost_and_the_status_says_what_the_judge_decided():
    judge = {"model": "openai/gpt-4o-mini"}

    def outcome(create: CreateJob) -> StepResult | None:
        req = create.request
        if req.step is StepKind.BASELINE:
            return ok(
                req.step,
                scores={"validation": 10.0, "test": 8.0},
                judged={"validation": 2, "test": 1},
                llm_cost=0.5,
            )
        if req.step is StepKind.EVAL:
            score = 10.0 + 5 * (req.iteration or 0)
            return ok(
                req.step, scores={"validation": score}, judged={"validation": 3}, llm_cost=0.25
            )
        if req.step is StepKind.FINAL:
            return ok(req.step, scores={"test": 30.0}, judged={"test": 4}, llm_cost=0.125)
        return None

    world = World(campaign(budget={"maxIterations": 2}, evaluation={"judge": judge}), outcome)
    status = world.run().status
    assert status.phase is Phase.SUCCEEDED
    # agents 2 x 0.01 (default outcome), baseline 0.5, evals 2 x 0.25, final 0.125
    assert status.llm_cost == pytest.approx(0.02 + 0.5 + 0.5 + 0.125)
    assert status.baseline.judged == {"validation": 2, "test": 1}
    assert [it.judged for it in status.iterations] == [3, 3]
    assert status.best.judged == {"test": 4}
    evals = [c.request for c in world.created if c.request.step is StepKind.EVAL]
    assert evals[1].llm_spent_usd > evals[0].llm_spent_usd > 0  # the operator's books


def test_a_judge_is_refused_where_upstream_scores_rule_based_only():
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="scored rule-based only"):
        campaign(benchmark="aime24", evaluation={"judge": {"model": "m"}})


def test_every_request_names_the_campaigns_uid_so_its_workspace_folder_is_its_own():
    ftc = campaign(budget={"maxIterations": 1})
    ftc = ftc.model_copy(update={"metadata": ftc.metadata.model_copy(update={"uid": "abc-123"})})
    world = World(ftc)
    world.run()
    assert {c.request.campaign_uid for c in world.created} == {"abc-123"}


def test_each_consumer_gets_the_digest_its_producer_reported():
    plan, model = "a" * 64, "b" * 64

    def outcome(create: CreateJob) -> StepResult | None:
        req = create.request
        if req.step is StepKind.AGENT:
            return ok(req.step, hypothesis="h", method="lora", outputs_sha256=plan)
        if req.step is StepKind.TRAIN:
            return ok(req.step, train_loss=1.0, outputs_sha256=model)
        return None

    world = World(campaign(budget={"maxIterations": 2}), outcome)
    status = world.run().status
    assert status.phase is Phase.SUCCEEDED
    digests = {
        (c.request.step, c.request.iteration): c.request.inputs_sha256 for c in world.created
    }
    assert digests[(StepKind.SMOKE, 0)] == digests[(StepKind.TRAIN, 1)] == plan
    assert digests[(StepKind.EVAL, 0)] == digests[(StepKind.EVAL, 1)] == model
    assert digests[(StepKind.FINAL, 1)] == model == status.best.model_sha256
    assert digests[(StepKind.BASELINE, None)] is None and digests[(StepKind.AGENT, 0)] is None


def test_a_failed_campaign_resumes_its_failed_step_on_a_new_annotation_value():
    failures = {"count": 0}

    def outcome(create: CreateJob) -> StepResult | None:
        if create.request.step is StepKind.BASELINE and failures["count"] == 0:
            failures["count"] += 1
            return StepResult(
                step=StepKind.BASELINE, ok=False, failure=FailureKind.OOM, message="OOM"
            )
        return None

    world = World(campaign(budget={"maxIterations": 1}), outcome)
    failed = world.run()
    assert failed.status.phase is Phase.FAILED
    assert failed.status.failed_phase is Phase.BASELINE
    # Nothing happens without the annotation, or with the value already acted on.
    world.tick()
    assert world.campaign.status.phase is Phase.FAILED and len(world.created) == 2

    def annotate(value: str) -> None:
        meta = world.campaign.metadata.model_copy(
            update={"annotations": {"ftagent.dev/resume": value}}
        )
        world.campaign = world.campaign.model_copy(update={"metadata": meta})

    annotate("2026-11-29T21:00")
    final = world.run()
    assert final.status.phase is Phase.SUCCEEDED and final.status.resumes == 1
    names = world.steps()
    assert names[:2] == ["demo-prepare-0", "demo-baseline-0"]
    assert names[2] == "demo-baseline-x1-0" and names.count("demo-prepare-0") == 1
    events = [e.reason for d in world.decisions for e in d.events]
    assert "Resumed" in events
    world.tick()  # the same value again: no second resume
    assert world.campaign.status.resumes == 1
