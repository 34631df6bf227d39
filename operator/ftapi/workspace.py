"""Where everything lives on the three volumes: the one layout every component agrees on.

The operator never mounts the volumes; it only passes :class:`~ftapi.steps.MountPaths` and
the campaign's identity, and each worker derives its folders from this module. Local mode uses
the same layout under plain folders.

Workspace (per campaign; on a cluster the folder name carries the campaign's uid, so a
campaign deleted and created again under the same name starts clean, and each Job mounts only
its campaign's folder)::

    <workspace>/<namespace>/<campaign>[-<uid prefix>]/
      baseline/eval/{validation,test}.json
      iter-000/
        round-0/plan.json, round-0/data/{train.json,dataset_info.json}, round-0/smoke/result.json
        round-1/...                        (a repair after a failed smoke run)
        train/result.json, train/output/   (adapter or model)
        eval/validation.json
      final/eval/test.json

Caches (shared by campaigns)::

    <models>/<org>--<name>/              a Hugging Face snapshot
    <datasets>/raw/<dataset key>/        a raw training dataset
    <datasets>/bench/<benchmark key>/eval.jsonl   the benchmark's evaluation set (+ splits)
    <datasets>/exclude/<benchmark key>[...].json  fingerprints and leak index (hashes only)
    <models>/oracles/                    mol_opt's property oracle models
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ftapi.steps import MountPaths, Split, StepRequest

UID_CHARS = 8
"""Characters of the campaign's uid in its workspace folder name."""


def campaign_folder(campaign: str, uid: str | None) -> str:
    """The campaign's folder name in its namespace's workspace folder."""
    return f"{campaign}-{uid[:UID_CHARS]}" if uid else campaign


def model_dir_name(model: str) -> str:
    """Cache folder for a Hugging Face id: ``Qwen/Qwen2.5-7B`` -> ``Qwen--Qwen2.5-7B``."""
    return model.strip("/").replace("/", "--")


def is_local_model(model: str) -> bool:
    """A base model given as a path inside the model cache rather than a Hugging Face id."""
    return model.startswith(("/", "./")) or model.count("/") != 1


@dataclass(frozen=True)
class CampaignLayout:
    """Paths of one campaign on the volumes (absolute, as seen by the worker)."""

    paths: MountPaths
    namespace: str
    campaign: str
    uid: str | None = None
    """The campaign's uid (cluster campaigns); local runs have none."""

    @classmethod
    def of(cls, request: StepRequest) -> CampaignLayout:
        return cls(request.paths, request.namespace, request.campaign, request.campaign_uid)

    @property
    def folder(self) -> str:
        """``<namespace>/<campaign folder>``: the campaign's part of the workspace claim."""
        return f"{self.namespace}/{campaign_folder(self.campaign, self.uid)}"

    @property
    def root(self) -> Path:
        return Path(self.paths.workspace) / self.folder

    # caches
    def base_model_dir(self, base_model: str) -> Path:
        if base_model.startswith("/"):
            return Path(base_model)
        if base_model.startswith("./") or is_local_model(base_model):
            return Path(self.paths.models) / PurePosixPath(base_model.removeprefix("./"))
        return Path(self.paths.models) / model_dir_name(base_model)

    def raw_dataset_dir(self, dataset: str) -> Path:
        return Path(self.paths.datasets) / "raw" / dataset

    def benchmark_file(self, benchmark: str) -> Path:
        return Path(self.paths.datasets) / "bench" / benchmark / "eval.jsonl"

    def shots_file(self, benchmark: str) -> Path:
        """The in-context examples of a few-shot benchmark (same row format as eval.jsonl)."""
        return Path(self.paths.datasets) / "bench" / benchmark / "shots.jsonl"

    def splits_file(self, benchmark: str, validation_limit: int, test_limit: int) -> Path:
        """The ids of the validation and test items for these limits, with their hash
        (``ftapi.evalsets.Splits``)."""
        name = f"splits-v{validation_limit}-t{test_limit}.json"
        return Path(self.paths.datasets) / "bench" / benchmark / name

    def leak_index_file(self, benchmark: str, validation_limit: int, test_limit: int) -> Path:
        """The leak index (``ftapi.leakindex``) of the items these limits score."""
        name = f"{benchmark}-leaks-v{validation_limit}-t{test_limit}.json"
        return Path(self.paths.datasets) / "exclude" / name

    def exclusion_file(self, benchmark: str) -> Path:
        """Fingerprints (hashes) of every evaluation item's identifying texts: what the
        agent's recipes must not train on. Holds no question and no answer."""
        return Path(self.paths.datasets) / "exclude" / f"{benchmark}.json"

    # workspace
    def iteration_dir(self, iteration: int) -> Path:
        return self.root / f"iter-{iteration:03d}"

    def round_dir(self, iteration: int, repair_round: int) -> Path:
        return self.iteration_dir(iteration) / f"round-{repair_round}"

    def plan_file(self, iteration: int, repair_round: int) -> Path:
        return self.round_dir(iteration, repair_round) / "plan.json"

    def plan_inputs(self, iteration: int, repair_round: int) -> list[Path]:
        """What the agent hands the trainer: the plan and the training data files (their
        digest travels through the status, ``ftapi.digest``)."""
        data = self.data_dir(iteration, repair_round)
        return [
            self.plan_file(iteration, repair_round),
            data / "train.json",
            data / "dataset_info.json",
        ]

    def data_dir(self, iteration: int, repair_round: int) -> Path:
        return self.round_dir(iteration, repair_round) / "data"

    def smoke_dir(self, iteration: int, repair_round: int) -> Path:
        return self.round_dir(iteration, repair_round) / "smoke"

    def train_dir(self, iteration: int) -> Path:
        return self.iteration_dir(iteration) / "train"

    def eval_file(self, iteration: int | None, split: Split, *, final: bool = False) -> Path:
        if final:
            return self.root / "final" / "eval" / f"{split}.json"
        if iteration is None:
            return self.root / "baseline" / "eval" / f"{split}.json"
        return self.iteration_dir(iteration) / "eval" / f"{split}.json"
