"""Everything one agent step works from, derived once from its step request.

:class:`AgentContext` bundles the request, the campaign spec, the folder layout
(:class:`ftapi.workspace.CampaignLayout`), the benchmark and raw datasets from the catalog, the
base model's description, the token counter, the history and the campaign's seed. Built by
:mod:`ftagent.pipeline`, passed to the planners and recipes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ftagent.errors import RequestError
from ftagent.history import History, load_history
from ftagent.leakcheck import load_fingerprints, load_leak_index
from ftagent.model_info import ModelInfo, describe_model
from ftagent.rawdata import RawDatasetFiles, discover
from ftagent.tokens import TokenCounter
from ftapi.campaign import FineTuneCampaignSpec, TrainingMethod
from ftapi.catalog import Benchmark, RawDataset, get_benchmark, get_dataset
from ftapi.leakindex import LeakMatcher
from ftapi.steps import StepKind, StepRequest
from ftapi.workspace import CampaignLayout


def campaign_seed(spec: FineTuneCampaignSpec) -> int:
    """A seed fixed by what the campaign trains (model, benchmark, datasets): reruns of the
    same campaign make the same choices."""
    text = "|".join([spec.base_model, spec.benchmark, *spec.resolved_datasets()])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


@dataclass
class AgentContext:
    """The inputs of one agent step."""

    request: StepRequest
    layout: CampaignLayout
    model: ModelInfo
    tokens: TokenCounter
    history: History
    _raw: dict[str, RawDatasetFiles] = field(default_factory=dict, repr=False)

    @classmethod
    def from_request(cls, request: StepRequest) -> AgentContext:
        if request.step is not StepKind.AGENT:
            raise RequestError(f"the agent cannot run a {request.step} step")
        if request.iteration is None:
            raise RequestError("an agent step needs an iteration")
        layout = CampaignLayout.of(request)
        model_dir = layout.base_model_dir(request.spec.base_model)
        model = describe_model(request.spec.base_model, model_dir)
        return cls(
            request=request,
            layout=layout,
            model=model,
            tokens=TokenCounter.for_model_dir(model.path),
            history=load_history(
                layout,
                request.iteration,
                request.repair_round,
                round_start=request.iteration - request.candidate,
            ),
        )

    @property
    def spec(self) -> FineTuneCampaignSpec:
        return self.request.spec

    @property
    def iteration(self) -> int:
        assert self.request.iteration is not None
        return self.request.iteration

    @property
    def repair_round(self) -> int:
        return self.request.repair_round

    @property
    def benchmark(self) -> Benchmark:
        return get_benchmark(self.spec.benchmark)

    @property
    def datasets(self) -> list[RawDataset]:
        return [get_dataset(key) for key in self.spec.resolved_datasets()]

    @property
    def description(self) -> str:
        return self.spec.resolved_description()

    @property
    def limit(self) -> int:
        return self.spec.budget.upper_data_size_limit

    @property
    def allowed_methods(self) -> list[TrainingMethod]:
        return list(self.spec.training.allowed_methods)

    @property
    def seed(self) -> int:
        return campaign_seed(self.spec)

    @property
    def round_dir(self) -> Path:
        return self.layout.round_dir(self.iteration, self.repair_round)

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir(self.iteration, self.repair_round)

    @property
    def workspace(self) -> str:
        return self.request.paths.workspace

    @property
    def max_record_tokens(self) -> int:
        """No record may be longer than the model's context."""
        return self.model.context_length

    def raw_files(self, dataset: RawDataset) -> RawDatasetFiles:
        """The dataset's usable files (found once per step; loaded files stay cached)."""
        if dataset.key not in self._raw:
            self._raw[dataset.key] = discover(dataset, self.layout.raw_dataset_dir(dataset.key))
        return self._raw[dataset.key]

    @cached_property
    def leak_index(self) -> LeakMatcher:
        evaluation = self.spec.evaluation
        return load_leak_index(
            self.layout.leak_index_file(
                self.spec.benchmark, evaluation.validation_limit, evaluation.test_limit
            )
        )

    @cached_property
    def excluded(self) -> frozenset[str]:
        """Fingerprints of every evaluation item (prepare's exclusion list): the built-in
        recipes never train on a row that matches one."""
        return load_fingerprints(self.layout.exclusion_file(self.spec.benchmark))
