"""The campaign lifecycle as one pure function: ``decide(campaign, jobs, now) -> Decision``.

Called by both executors (the kopf handlers for Kubernetes Jobs, ``ftctl run`` for local
processes). No I/O here: the caller observes the campaign's Jobs (:class:`ObservedJob`),
calls :func:`decide`, creates/deletes the Jobs it names, records its events and writes the
new status. Deciding again on the same inputs gives the same answer, and every Job name is
derived from the status, so a restarted operator never duplicates a Job.

Each unit of work is a *lane*: the campaign-level steps (prepare, baseline, final) share one
lane kept in the status' top-level fields; each iteration is its own lane kept in its
:class:`~ftapi.campaign.IterationStatus`. Several iteration lanes may run at once (parallel
candidates): the loop only ever looks at the lanes in flight.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ftapi.campaign import (
    BestScores,
    ConditionStatus,
    FineTuneCampaign,
    FineTuneCampaignStatus,
    IterationPhase,
    IterationStatus,
    LockedSpec,
    Phase,
    Scores,
)
from ftapi.results import (
    REPAIRABLE_FAILURES,
    FailureKind,
    StepResult,
    decode_item_scores,
    decode_item_weights,
)
from ftapi.steps import EVAL_STEPS, GPU_STEPS, IterationNote, Split, StepKind, StepRequest
from ftoperator.acceptance import compare, describe
from ftoperator.conditions import set_condition

MAX_NAME = 63
"""Job names are also the value of the ``job-name`` label on their Pods (63 characters)."""


class JobState(StrEnum):
    """What an observed Job is doing, as far as the lifecycle cares."""

    PENDING = "Pending"
    """Created, not running yet (no pod, or queued)."""
    SUSPENDED = "Suspended"
    """Held by a queue (Kueue): waiting for admission."""
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ObservedJob:
    """A Job of this campaign, with its pod's outcome, as the executor saw it."""

    name: str
    state: JobState
    result: StepResult | None = None
    """The parsed termination message, when the pod finished and wrote a valid one."""
    failure: FailureKind | None = None
    """For a failed Job: why, when the result does not say (evicted, deadline, OOM-killed,
    malformed result)."""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    gpus: int = 0
    step: StepKind | None = None
    """From the Job's step label (names alone are ambiguous: campaigns may be called
    ``eval-smoke``)."""


@dataclass(frozen=True)
class Settings:
    """Operator-wide knobs of the lifecycle (not part of the campaign's spec)."""

    max_infra_retries: int = 3
    """Retries of one step after infrastructure failures (eviction, deleted Job)."""
    backoff_base: float = 10.0
    backoff_max: float = 300.0


@dataclass(frozen=True)
class CreateJob:
    name: str
    request: StepRequest


@dataclass(frozen=True)
class DeleteJob:
    name: str
    reason: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Decision:
    status: FineTuneCampaignStatus
    create: list[CreateJob] = field(default_factory=list)
    delete: list[DeleteJob] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Seconds until deciding again is useful even if nothing is observed (backoff, deadline)."""


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED})
ACTIVE_JOB_STATES = frozenset({JobState.PENDING, JobState.SUSPENDED, JobState.RUNNING})


RESUME_ANNOTATION = "ftagent.dev/resume"
"""Set (to any new value, e.g. a timestamp) on a Failed campaign to retry the failed step."""


def job_name(
    campaign: str,
    step: StepKind,
    iteration: int | None = None,
    repair_round: int | None = None,
    attempt: int = 0,
    resume: int = 0,
) -> str:
    """Deterministic Job name ``<campaign>-<step>[-<iteration>][-r<round>][-x<resume>]-
    <attempt>``, kept within 63 characters by shortening the campaign part and adding a hash
    of the whole. A resumed campaign's steps get new names (``-x<n>``), never the failed
    Job's."""
    parts = [str(step)]
    if step is StepKind.FINAL:
        parts.append("base" if iteration is None else str(iteration))
    elif iteration is not None:
        parts.append(str(iteration))
    if repair_round is not None:
        parts.append(f"r{repair_round}")
    if resume:
        parts.append(f"x{resume}")
    parts.append(str(attempt))
    suffix = "-".join(parts)
    name = f"{campaign}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    room = MAX_NAME - len(suffix) - len(digest) - 2
    return f"{campaign[:room].rstrip('-.')}-{digest}-{suffix}"


def backoff(settings: Settings, attempt: int) -> float:
    return min(settings.backoff_max, settings.backoff_base * 2 ** max(0, attempt - 1))


def is_improvement(candidate: float, best: float | None) -> bool:
    """Numeric acceptance: a candidate becomes the best when its validation score beats it."""
    return best is None or candidate > best


@dataclass
class _Outcome:
    """What happened to one lane's current step in this decision."""

    waiting: bool = False
    result: StepResult | None = None
    failure: FailureKind | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.failure is not None


@dataclass
class _Lane:
    """The retry bookkeeping of one lane: the campaign's (prepare, baseline, final) or an
    iteration's."""

    attempt: int
    job: str | None
    retry_at: datetime | None


class _Decider:
    def __init__(
        self,
        campaign: FineTuneCampaign,
        jobs: dict[str, ObservedJob],
        now: datetime,
        settings: Settings,
    ) -> None:
        self.campaign = campaign
        self.spec = campaign.spec
        self.name = campaign.metadata.name or "campaign"
        self.namespace = campaign.metadata.namespace or "default"
        self.jobs = jobs
        self.now = now
        self.settings = settings
        self.status = campaign.status.model_copy(deep=True)
        self.decision = Decision(status=self.status)
        self.suspending = bool(self.spec.suspend)

    # ------------------------------------------------------------------ plumbing
    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.decision.events.append(Event("Warning" if warning else "Normal", reason, message))

    def requeue(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        current = self.decision.requeue_after
        self.decision.requeue_after = seconds if current is None else min(current, seconds)

    def request(
        self,
        step: StepKind,
        iteration: int | None = None,
        repair_round: int = 0,
        attempt: int = 0,
        splits: list[Split] | None = None,
        it: IterationStatus | None = None,
    ) -> StepRequest:
        extra: dict = {}
        if step is StepKind.AGENT and it is not None:
            extra = {
                "round": it.round,
                "candidate": it.candidate,
                "candidates": self.spec.parallelism,
                "history": self.history(),
            }
        return StepRequest(
            step=step,
            namespace=self.namespace,
            campaign=self.name,
            campaign_uid=self.campaign.metadata.uid,
            iteration=iteration,
            repair_round=repair_round,
            attempt=attempt,
            splits=splits or [],
            llm_spent_usd=(self.status.llm_cost if step in (StepKind.AGENT, *EVAL_STEPS) else 0.0),
            inputs_sha256=self.inputs_digest(step, it),
            split_sha256=(
                self.status.evaluation_set.sha256
                if step in EVAL_STEPS and self.status.evaluation_set is not None
                else None
            ),
            spec=self.spec,
            **extra,
        )

    def inputs_digest(self, step: StepKind, it: IterationStatus | None) -> str | None:
        """What the step's inputs must hash to: the round's plan and data for smoke and
        train, the iteration's model for its evaluation, the best model for the final one."""
        if step in (StepKind.SMOKE, StepKind.TRAIN) and it is not None:
            return it.plan_sha256
        if step is StepKind.EVAL and it is not None:
            return it.model_sha256
        if step is StepKind.FINAL and self.status.best is not None:
            return self.status.best.model_sha256
        return None

    def history(self) -> list[IterationNote]:
        """The operator's verdicts on finished iterations, for the next agent."""
        notes = []
        for it in self.status.iterations:
            if it.phase not in _ITERATION_DONE:
                continue
            note = it.message or ""
            if it.comparison is not None:
                note = describe(it.comparison, self.spec.evaluation.confidence)
            notes.append(
                IterationNote(
                    index=it.index,
                    round=it.round,
                    validation=it.validation,
                    accepted=it.accepted,
                    note=note[:300],
                )
            )
        return notes

    def run_step(
        self,
        name: str,
        recorded_job: str | None,
        retry_at: datetime | None,
        request: StepRequest,
    ) -> tuple[_Outcome, str | None]:
        """Observe or start the Job ``name`` of a lane; returns the outcome and the Job name
        the lane should record as created."""
        job = self.jobs.get(name)
        if job is None and any(create.name == name for create in self.decision.create):
            return _Outcome(waiting=True), name
        if job is None:
            if recorded_job == name:
                # It was created and is gone: deleted by someone, or its namespace is going.
                return _Outcome(
                    failure=FailureKind.INFRASTRUCTURE, message=f"Job {name} disappeared"
                ), recorded_job
            if retry_at is not None and self.now < retry_at:
                self.requeue((retry_at - self.now).total_seconds())
                return _Outcome(waiting=True), recorded_job
            if self.suspending:
                return _Outcome(waiting=True), recorded_job
            self.decision.create.append(CreateJob(name, request))
            self.event("JobCreated", f"created Job {name} ({request.step})")
            return _Outcome(waiting=True), name
        if job.state in ACTIVE_JOB_STATES:
            return _Outcome(waiting=True), name
        self.account(job, request.step)
        if job.state is JobState.SUCCEEDED and job.result is not None and job.result.ok:
            return _Outcome(result=job.result), name
        if job.result is not None and not job.result.ok:
            kind = job.result.failure or FailureKind.INTERNAL
            return _Outcome(result=job.result, failure=kind, message=job.result.message), name
        kind = job.failure or FailureKind.INTERNAL
        return _Outcome(failure=kind, message=job.message or f"Job {name} failed"), name

    def account(self, job: ObservedJob, step: StepKind) -> None:
        if step in GPU_STEPS and job.started_at and job.finished_at and job.gpus:
            seconds = (job.finished_at - job.started_at).total_seconds()
            self.status.gpu_seconds = round(
                self.status.gpu_seconds + max(0.0, seconds) * job.gpus, 3
            )
        if job.result is not None and job.result.llm_cost:
            self.status.llm_cost = round(self.status.llm_cost + job.result.llm_cost, 6)

    def any_job_active(self) -> bool:
        return any(job.state in ACTIVE_JOB_STATES for job in self.jobs.values())

    # ------------------------------------------------------------------ phases
    def set_phase(self, phase: Phase, message: str, warning: bool = False) -> None:
        if self.status.phase != phase:
            self.event(f"Phase{phase}", message, warning)
        self.status.phase = phase
        self.status.message = message

    def campaign_step(
        self,
        step: StepKind,
        iteration: int | None = None,
        splits: list[Split] | None = None,
    ) -> _Outcome:
        """The shared lane of prepare, baseline and final, with infrastructure retries."""
        status = self.status
        name = job_name(self.name, step, iteration, None, status.step_attempt, status.resumes)
        outcome, job = self.run_step(
            name,
            status.active_job,
            status.retry_at,
            self.request(step, iteration, attempt=status.step_attempt, splits=splits),
        )
        lane = _Lane(status.step_attempt, job, status.retry_at)
        outcome = self.settle(outcome, lane, str(step))
        status.step_attempt, status.active_job, status.retry_at = (
            lane.attempt,
            lane.job,
            lane.retry_at,
        )
        return outcome

    def settle(self, outcome: _Outcome, lane: _Lane, what: str) -> _Outcome:
        """Infrastructure failures retry the lane's step under the next attempt, with backoff,
        at most ``max_infra_retries`` times; a finished step resets the lane's bookkeeping."""
        if outcome.failure is FailureKind.INFRASTRUCTURE:
            if lane.attempt < self.settings.max_infra_retries:
                lane.attempt += 1
                delay = backoff(self.settings, lane.attempt)
                lane.retry_at = self.now + timedelta(seconds=delay)
                lane.job = None
                self.event(
                    "StepRetry",
                    f"{what} will be retried in {delay:.0f}s: {outcome.message}",
                    warning=True,
                )
                self.requeue(delay)
                return _Outcome(waiting=True)
            outcome.message = (
                f"{outcome.message} (gave up after {self.settings.max_infra_retries} retries)"
            )
        if not outcome.waiting:
            lane.attempt, lane.job, lane.retry_at = 0, None, None
        return outcome

    def fail(self, message: str) -> None:
        self.status.failed_phase = self.status.phase
        self.set_phase(Phase.FAILED, message, warning=True)
        self.status.completion_time = self.status.completion_time or self.now
        self.status.resumed_token = self.campaign.metadata.annotations.get(RESUME_ANNOTATION)

    def step_failed(self) -> bool:
        """A new ftagent.dev/resume value retries the failed step; everything finished
        before it (caches, baseline, iterations) is kept."""
        status = self.status
        token = self.campaign.metadata.annotations.get(RESUME_ANNOTATION)
        if token is None or token == status.resumed_token:
            return False
        status.resumed_token = token
        if status.failed_phase not in (Phase.PREPARING, Phase.BASELINE, Phase.FINALIZING):
            self.event(
                "ResumeIgnored",
                f"{RESUME_ANNOTATION}: this campaign failed in no step that can be retried",
                warning=True,
            )
            return False
        status.resumes += 1
        status.step_attempt, status.active_job, status.retry_at = 0, None, None
        status.completion_time = None
        phase = status.failed_phase
        status.failed_phase = None
        self.set_phase(phase, f"resumed ({RESUME_ANNOTATION}={token}): retrying {phase}")
        self.event("Resumed", f"retrying the failed {phase} step (resume {status.resumes})")
        return True

    def step_pending(self) -> bool:
        self.status.phase = Phase.PREPARING
        self.status.start_time = self.status.start_time or self.now
        self.status.locked_spec = LockedSpec.of(self.spec)
        self.event("PhasePreparing", "downloading the base model and datasets into the caches")
        self.status.message = "preparing caches"
        return True

    def step_preparing(self) -> bool:
        outcome = self.campaign_step(StepKind.PREPARE)
        if outcome.waiting:
            return False
        if outcome.failed:
            self.fail(f"prepare failed ({outcome.failure}): {outcome.message}")
            return True
        evaluation_set = outcome.result.evaluation_set if outcome.result else None
        if evaluation_set is not None:
            self.status.evaluation_set = evaluation_set
            self.event(
                "EvaluationSet",
                f"{evaluation_set.items} items: validation {evaluation_set.validation}, "
                f"test {evaluation_set.test} (sha256 {evaluation_set.sha256[:12]})",
            )
        self.set_phase(Phase.BASELINE, "evaluating the base model on validation and test")
        return True

    def step_baseline(self) -> bool:
        outcome = self.campaign_step(StepKind.BASELINE, splits=["validation", "test"])
        if outcome.waiting:
            return False
        scores = outcome.result.scores if outcome.result else {}
        if outcome.failed or "validation" not in scores:
            self.fail(
                f"baseline evaluation failed ({outcome.failure or 'internal'}): "
                f"{outcome.message or 'no validation score'}"
            )
            return True
        judged = outcome.result.judged if outcome.result else {}
        self.status.baseline = Scores(
            validation=scores["validation"], test=scores.get("test"), judged=judged or None
        )
        self.status.best = BestScores(
            validation=scores["validation"],
            test=scores.get("test"),
            item_scores=outcome.result.item_scores if outcome.result else None,
            item_weights=outcome.result.item_weights if outcome.result else None,
        )
        self.event(
            "Baseline",
            f"baseline validation {scores['validation']:.2f}, "
            f"test {scores.get('test', float('nan')):.2f}",
        )
        self.start_loop()
        return True

    def start_loop(self) -> None:
        self.status.deadline = self.now + timedelta(seconds=self.spec.budget.timeout_seconds)
        self.set_phase(Phase.RUNNING, "running experiments")

    def step_running(self) -> bool:
        status = self.status
        in_flight = [it for it in status.iterations if it.phase not in _ITERATION_DONE]
        if status.deadline is not None and self.now >= status.deadline:
            for it in in_flight:
                if it.job and it.job in self.jobs:
                    self.decision.delete.append(DeleteJob(it.job, "campaign timeout"))
                self.finish_iteration(it, IterationPhase.FAILED, "stopped: campaign timeout")
            self.close_round()
            self.event(
                "Timeout", f"budget.timeout {self.spec.budget.timeout} reached", warning=True
            )
            self.set_phase(Phase.FINALIZING, "timeout: evaluating the best model on test")
            return True
        if status.deadline is not None:
            self.requeue((status.deadline - self.now).total_seconds())

        changed = False
        for it in in_flight:
            changed |= self.advance_iteration(it)
        in_flight = [it for it in status.iterations if it.phase not in _ITERATION_DONE]
        if not in_flight:
            changed |= self.close_round()
        remaining = self.spec.budget.max_iterations - status.iterations_started
        if not in_flight and remaining > 0 and not self.suspending:
            round_index = status.rounds_started
            status.rounds_started += 1
            for candidate in range(min(self.spec.parallelism, remaining)):
                it = self.begin_iteration(round_index, candidate)
                self.advance_iteration(it)
            return True
        if not in_flight and remaining <= 0:
            self.set_phase(Phase.FINALIZING, "evaluating the best model on the test split")
            return True
        return changed

    def begin_iteration(self, round_index: int = 0, candidate: int = 0) -> IterationStatus:
        status = self.status
        index = status.iterations_started
        it = IterationStatus(
            index=index,
            phase=IterationPhase.PLANNING,
            started_at=self.now,
            round=round_index,
            candidate=candidate,
        )
        status.iterations.append(it)
        status.iterations = status.iterations[-_MAX_ITERATIONS:]
        status.iterations_started += 1
        status.current_iteration = index
        self.event("IterationStarted", f"iteration {index}: planning")
        return it

    def iteration_step(self, it: IterationStatus, step: StepKind) -> _Outcome:
        with_round = step in (StepKind.AGENT, StepKind.SMOKE)
        name = job_name(
            self.name, step, it.index, it.repair_rounds if with_round else None, it.attempt
        )
        request = self.request(
            step,
            it.index,
            repair_round=it.repair_rounds,
            attempt=it.attempt,
            splits=["validation"] if step is StepKind.EVAL else None,
            it=it,
        )
        outcome, job = self.run_step(name, it.job, it.retry_at, request)
        lane = _Lane(it.attempt, job, it.retry_at)
        outcome = self.settle(outcome, lane, f"iteration {it.index} {step}")
        it.attempt, it.job, it.retry_at = lane.attempt, lane.job, lane.retry_at
        return outcome

    def advance_iteration(self, it: IterationStatus) -> bool:
        """Moves one iteration as far as the observed Jobs allow; True when it changed."""
        changed = False
        for _ in range(8):  # at most every phase once per decision
            step = _ITERATION_STEPS.get(it.phase)
            if step is None:
                return changed
            outcome = self.iteration_step(it, step)
            if outcome.waiting:
                return changed
            changed = True
            handler = getattr(self, f"after_{step}")
            handler(it, outcome)
        return changed

    def after_agent(self, it: IterationStatus, outcome: _Outcome) -> None:
        result = outcome.result
        if outcome.failed or result is None:
            self.finish_iteration(
                it, IterationPhase.FAILED, f"agent failed ({outcome.failure}): {outcome.message}"
            )
            return
        it.hypothesis = (result.hypothesis or "")[:2048] or it.hypothesis
        it.method = result.method or it.method
        it.plan_sha256 = result.outputs_sha256
        it.phase = IterationPhase.SMOKE
        it.message = f"smoke run of round {it.repair_rounds}"

    def after_smoke(self, it: IterationStatus, outcome: _Outcome) -> None:
        if not outcome.failed:
            it.phase = IterationPhase.TRAINING
            it.message = "training"
            return
        repairable = (
            outcome.failure in REPAIRABLE_FAILURES or outcome.failure is FailureKind.TIMEOUT
        )
        if repairable and it.repair_rounds < self.spec.budget.max_repair_rounds:
            it.repair_rounds += 1
            it.phase = IterationPhase.PLANNING
            it.message = f"smoke failed ({outcome.failure}); repair round {it.repair_rounds}"
            self.event(
                "SmokeFailed",
                f"iteration {it.index}: {outcome.message[:400]} - asking "
                f"the agent to repair (round {it.repair_rounds})",
                warning=True,
            )
            return
        why = "no repair rounds left" if repairable else "not repairable"
        self.finish_iteration(
            it, IterationPhase.FAILED, f"smoke failed ({outcome.failure}, {why}): {outcome.message}"
        )

    def after_train(self, it: IterationStatus, outcome: _Outcome) -> None:
        if outcome.failed or outcome.result is None:
            self.finish_iteration(
                it, IterationPhase.FAILED, f"training failed ({outcome.failure}): {outcome.message}"
            )
            return
        it.train_loss = outcome.result.train_loss
        it.model_sha256 = outcome.result.outputs_sha256
        it.phase = IterationPhase.EVALUATING
        it.message = "evaluating on validation"

    def after_eval(self, it: IterationStatus, outcome: _Outcome) -> None:
        scores = outcome.result.scores if outcome.result else {}
        if outcome.failed or "validation" not in scores:
            self.finish_iteration(
                it,
                IterationPhase.FAILED,
                f"evaluation failed ({outcome.failure or 'internal'}): "
                f"{outcome.message or 'no validation score'}",
            )
            return
        it.validation = scores["validation"]
        it.judged = outcome.result.judged.get("validation") if outcome.result else None
        it.item_scores = outcome.result.item_scores if outcome.result else None
        it.item_weights = outcome.result.item_weights if outcome.result else None
        self.finish_iteration(it, IterationPhase.SUCCEEDED, f"validation {it.validation:.2f}")

    def close_round(self) -> bool:
        """Once every candidate of a round has finished: the best candidate replaces the best
        so far if its gain is significant; every candidate gets its verdict."""
        pending = [
            it
            for it in self.status.iterations
            if it.phase in _ITERATION_DONE and it.accepted is None
        ]
        if not pending:
            return False
        evaluation = self.spec.evaluation
        scored = [
            it
            for it in pending
            if it.phase is IterationPhase.SUCCEEDED and it.validation is not None
        ]
        winner = max(scored, key=lambda it: (it.validation, -it.index), default=None)
        for it in pending:
            it.accepted = False
        if winner is not None:
            best = self.status.best or BestScores()
            comparison = compare(
                winner.validation or 0.0,
                best.validation,
                decode_item_scores(winner.item_scores),
                decode_item_scores(best.item_scores),
                confidence=evaluation.confidence,
                min_improvement=evaluation.min_improvement,
                seed_key=f"{self.campaign.metadata.uid}/{winner.index}",
                candidate_weights=decode_item_weights(winner.item_weights),
                best_weights=decode_item_weights(best.item_weights),
            )
            winner.comparison = comparison
            verdict = describe(comparison, evaluation.confidence)
            if comparison.significant:
                winner.accepted = True
                winner.message = f"validation {winner.validation:.2f}, new best: {verdict}"
                self.status.best = BestScores(
                    iteration=winner.index,
                    validation=winner.validation,
                    item_scores=winner.item_scores,
                    item_weights=winner.item_weights,
                    model_sha256=winner.model_sha256,
                )
                self.event(
                    "NewBest",
                    f"iteration {winner.index} is the new best: validation "
                    f"{winner.validation:.2f} (was {best.validation}); {verdict}",
                )
            else:
                winner.message = f"validation {winner.validation:.2f}, not accepted: {verdict}"
                self.event("NotAccepted", f"iteration {winner.index}: {verdict}")
        for it in pending:
            it.item_scores = it.item_weights = None  # the best keeps its own copy
        return True

    def finish_iteration(self, it: IterationStatus, phase: IterationPhase, message: str) -> None:
        it.phase = phase
        it.message = message[:4096]
        it.finished_at = self.now
        it.job = None
        it.retry_at = None
        if phase is IterationPhase.FAILED:
            self.event("IterationFailed", f"iteration {it.index}: {message[:900]}", warning=True)

    def step_finalizing(self) -> bool:
        best = self.status.best or BestScores()
        if best.iteration is None:
            baseline = self.status.baseline or Scores()
            self.status.best = BestScores(validation=best.validation, test=baseline.test)
            self.succeed("no iteration beat the base model; its test score is the baseline's")
            return True
        outcome = self.campaign_step(StepKind.FINAL, best.iteration, splits=["test"])
        if outcome.waiting:
            return False
        scores = outcome.result.scores if outcome.result else {}
        if outcome.failed or "test" not in scores:
            self.fail(
                f"final test evaluation failed ({outcome.failure or 'internal'}): "
                f"{outcome.message or 'no test score'}"
            )
            return True
        judged = outcome.result.judged if outcome.result else {}
        self.status.best = best.model_copy(
            update={"test": scores["test"], "judged": judged or None}
        )
        self.succeed(
            f"best iteration {best.iteration}: validation {best.validation:.2f}, "
            f"test {scores['test']:.2f}"
        )
        return True

    def succeed(self, message: str) -> None:
        self.set_phase(Phase.SUCCEEDED, message)
        self.status.completion_time = self.now
        self.status.completed_max_iterations = self.spec.budget.max_iterations

    def step_succeeded(self) -> bool:
        wanted = self.spec.budget.max_iterations
        done_with = self.status.completed_max_iterations or 0
        if wanted > done_with and wanted > self.status.iterations_started and not self.suspending:
            self.status.completion_time = None
            self.event(
                "Continuing",
                f"budget.maxIterations raised to {self.spec.budget.max_iterations}: continuing",
            )
            self.start_loop()
            return True
        return False

    # ------------------------------------------------------------------ driver
    def check_locked_spec(self) -> list[str]:
        locked = self.status.locked_spec
        return locked.changed_fields(self.spec) if locked else []

    def handle_suspend(self) -> bool:
        """True when the campaign is (now) suspended and nothing else should happen."""
        status = self.status
        if status.phase is Phase.SUSPENDED:
            if self.spec.suspend:
                return True
            resume = status.resume_phase or Phase.RUNNING
            if status.deadline is not None and status.suspended_at is not None:
                status.deadline += self.now - status.suspended_at
            status.resume_phase = None
            status.suspended_at = None
            self.set_phase(resume, "resumed")
            self.event("Resumed", "spec.suspend cleared: resuming")
            return False
        return False

    def maybe_suspend(self) -> None:
        status = self.status
        if (
            self.suspending
            and status.phase not in TERMINAL_PHASES
            and status.phase is not Phase.SUSPENDED
            and not self.any_job_active()
            and not self.decision.create
        ):
            status.resume_phase = status.phase
            status.suspended_at = self.now
            self.set_phase(Phase.SUSPENDED, "suspended by spec.suspend")

    def run(self) -> Decision:
        status = self.status
        changed_fields = self.check_locked_spec()
        if changed_fields:
            fields = ", ".join(f"spec.{name}" for name in changed_fields)
            message = (
                f"{fields} cannot change once the campaign has started; "
                "restore the original value or create a new campaign"
            )
            if not _condition_is(status, "Stalled", ConditionStatus.TRUE, "ImmutableFieldChanged"):
                self.event("ImmutableFieldChanged", message, warning=True)
            self.finish_conditions(stalled=("ImmutableFieldChanged", message))
            return self.decision
        if not self.handle_suspend():
            handlers = {
                Phase.PENDING: self.step_pending,
                Phase.PREPARING: self.step_preparing,
                Phase.BASELINE: self.step_baseline,
                Phase.RUNNING: self.step_running,
                Phase.FINALIZING: self.step_finalizing,
                Phase.SUCCEEDED: self.step_succeeded,
                Phase.FAILED: self.step_failed,
            }
            for _ in range(12):
                handler = handlers.get(status.phase)
                if handler is None or not handler():
                    break
            self.maybe_suspend()
        self.finish_conditions()
        return self.decision

    def finish_conditions(self, stalled: tuple[str, str] | None = None) -> None:
        status = self.status
        generation = self.campaign.metadata.generation
        status.observed_generation = generation
        phase = status.phase
        message = status.message or str(phase)
        conds = status.conditions

        def put(kind: str, value: bool, reason: str, text: str) -> None:
            nonlocal conds
            conds = set_condition(conds, kind, value, reason, text, self.now, generation)

        working = phase in (
            Phase.PENDING,
            Phase.PREPARING,
            Phase.BASELINE,
            Phase.RUNNING,
            Phase.FINALIZING,
        )
        put("Ready", phase is Phase.SUCCEEDED, str(phase), message)
        put("Reconciling", working and stalled is None, str(phase), message)
        if stalled is not None:
            put("Stalled", True, stalled[0], stalled[1])
        else:
            put("Stalled", False, "AsExpected", "no blocking problem")
        put("Succeeded", phase is Phase.SUCCEEDED, str(phase), message)
        put("Failed", phase is Phase.FAILED, str(phase), message)
        suspended = phase is Phase.SUSPENDED
        suspend_reason = (
            "Suspended"
            if suspended
            else (
                "Suspending" if self.suspending and phase not in TERMINAL_PHASES else "NotSuspended"
            )
        )
        put(
            "Suspended",
            suspended,
            suspend_reason,
            "waiting for the running step to finish"
            if suspend_reason == "Suspending"
            else message
            if suspended
            else "spec.suspend is false",
        )
        status.conditions = conds


_MAX_ITERATIONS = 50
_ITERATION_DONE = frozenset({IterationPhase.SUCCEEDED, IterationPhase.FAILED})
_ITERATION_STEPS = {
    IterationPhase.PLANNING: StepKind.AGENT,
    IterationPhase.SMOKE: StepKind.SMOKE,
    IterationPhase.TRAINING: StepKind.TRAIN,
    IterationPhase.EVALUATING: StepKind.EVAL,
}


def _condition_is(
    status: FineTuneCampaignStatus, kind: str, value: ConditionStatus, reason: str
) -> bool:
    return any(
        c.type == kind and c.status == value and c.reason == reason for c in status.conditions
    )


def decide(
    campaign: FineTuneCampaign,
    jobs: dict[str, ObservedJob] | list[ObservedJob],
    now: datetime,
    settings: Settings | None = None,
) -> Decision:
    """The next step of a campaign, from its spec and status and the Jobs observed now."""
    by_name = jobs if isinstance(jobs, dict) else {job.name: job for job in jobs}
    return _Decider(campaign, by_name, now, settings or Settings()).run()
