"""The OpenCompass evaluator that scores a benchmark with its fteval adapter.

Registered in OpenCompass' ``ICL_EVALUATORS`` registry and named in the generated config's
``eval_cfg`` (:mod:`fteval.occonfig`). OpenCompass calls :meth:`FtBenchmarkEvaluator.score`
with the raw predictions, the reference answers and the test set; the evaluator returns the
core metric and secondary metrics plus one ``details`` entry per item (extracted answer,
per-item score, correctness, item index), which OpenCompass writes to
``results/<model>/<dataset>.json`` for :mod:`fteval.results` to read.
"""

from __future__ import annotations

import json
from typing import Any

from opencompass.openicl.icl_evaluator import BaseEvaluator
from opencompass.registry import ICL_EVALUATORS

from fteval.adapters import EvalItem, Judgement, get_adapter
from fteval.columns import EXTRA_COLUMN, INDEX_COLUMN, QUESTION_COLUMN
from fteval.judge import judge_config


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


@ICL_EVALUATORS.register_module()
class FtBenchmarkEvaluator(BaseEvaluator):
    """Scores predictions with the adapter of one catalog benchmark."""

    def __init__(
        self,
        benchmark: str,
        judge: dict[str, Any] | None = None,
        pred_postprocessor: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(pred_postprocessor=pred_postprocessor)
        # The key stays in the environment: the generated config is written to disk.
        config = judge_config(judge["model"], judge.get("api_base")) if judge else None
        self.benchmark = benchmark
        self.adapter = get_adapter(benchmark, config)

    def score(self, predictions: list[Any], references: list[Any], test_set: Any) -> dict:
        if len(predictions) != len(references):
            return {"error": "predictions and references have different lengths"}
        judgements: list[Judgement] = []
        items: list[tuple[EvalItem, str]] = []
        for prediction, reference, row in zip(predictions, references, test_set, strict=True):
            item = EvalItem(
                index=int(row[INDEX_COLUMN]),
                question=row[QUESTION_COLUMN],
                answer=str(reference),
                extra=json.loads(row[EXTRA_COLUMN] or "{}"),
            )
            text = prediction if isinstance(prediction, str) else str(prediction or "")
            judgements.append(self.adapter.judge(text, item))
            items.append((item, text))
        judgements = self.adapter.reweigh(judgements)
        details: list[dict[str, Any]] = []
        for (item, text), judgement in zip(items, judgements, strict=True):
            details.append(
                {
                    "index": item.index,
                    "pred": text,
                    "answer": item.answer,
                    "extracted": _jsonable(judgement.extracted),
                    "score": judgement.score,
                    "weight": judgement.weight,
                    "correct": judgement.correct,
                    "judged_by_llm": judgement.judged_by_llm,
                }
            )
        metrics = self.adapter.aggregate(judgements)
        return {**metrics, "details": details}
