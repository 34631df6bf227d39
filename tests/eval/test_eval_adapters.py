"""Every catalog benchmark's answer extraction and core metric, on hand-made responses.

Parametrized over all catalog keys: a benchmark added to the catalog without an adapter (or
without right/wrong/malformed cases in ``fixtures.answers``) fails here.
"""

from __future__ import annotations

import pytest
from fixtures.answers import CASES, Case

from ftapi.catalog import BENCHMARKS
from fteval.adapters import ADAPTERS, EvalItem, Judgement, MissingAdapterError, get_adapter
from fteval.adapters.chemcot import UnsupportedPropertyError

ALL_CASES = [
    pytest.param(key, case, id=f"{key}-{case.kind}-{number}")
    for key in sorted(BENCHMARKS)
    for number, case in enumerate(CASES.get(key, []))
]


@pytest.mark.parametrize("key", sorted(BENCHMARKS))
def test_every_benchmark_has_an_adapter_and_cases(key: str) -> None:
    adapter = get_adapter(key)
    benchmark = BENCHMARKS[key]
    assert adapter.answer_format is benchmark.answer_format
    assert adapter.metric is benchmark.metric
    kinds = {case.kind for case in CASES.get(key, [])}
    assert {"right", "wrong", "malformed"} <= kinds, f"{key} needs right/wrong/malformed cases"


def test_no_adapter_for_unknown_benchmarks() -> None:
    assert set(ADAPTERS) == set(BENCHMARKS)
    with pytest.raises(MissingAdapterError):
        get_adapter("no_such_benchmark")


def _judge(key: str, case: Case) -> Judgement:
    item = EvalItem(index=3, question=case.question, answer=case.answer, extra=case.extra)
    return get_adapter(key).judge(case.prediction, item)


@pytest.mark.parametrize(("key", "case"), ALL_CASES)
def test_adapter_scores_case(key: str, case: Case) -> None:
    judgement = _judge(key, case)
    if isinstance(case.score, tuple):
        low, high = case.score
        assert low < judgement.score < high
    else:
        assert judgement.score == pytest.approx(case.score)
    assert judgement.correct is case.correct
    assert (judgement.extracted is None) is (case.kind == "malformed")


def _aggregate(key: str, pairs: list[tuple[str, str]]) -> dict[str, float]:
    adapter = get_adapter(key)
    judgements = [
        adapter.judge(prediction, EvalItem(index=i, question="q", answer=answer))
        for i, (prediction, answer) in enumerate(pairs)
    ]
    return adapter.aggregate(judgements)


def tagged(text: str) -> str:
    return f"[ANSWER_START]{text}[ANSWER_END]"


def test_error_detection_f1_is_over_the_split() -> None:
    # gold False = the step has an error (the positive class)
    pairs = [
        (tagged("False"), "False"),  # true positive
        (tagged("True"), "False"),  # miss
        (tagged("False"), "True"),  # false alarm
        (tagged("True"), "True"),  # true negative
        ("no tags", "False"),  # unparsed: upstream leaves it out of every metric
    ]
    scores = _aggregate("bioprobench_err", pairs)
    assert scores["f1"] == pytest.approx(100 * 2 * 1 / (2 * 1 + 1 + 1))
    assert scores["accuracy"] == pytest.approx(50.0)


def test_novelty_reports_accuracy_and_macro_f1() -> None:
    pairs = [
        ('{"code": "103"}', "103"),
        ('{"code": "102"}', "103"),
        ('{"code": "ALLOW"}', "ALLOW"),
        ("no code at all", "ALLOW"),  # not extracted: left out of both metrics (the fork)
    ]
    scores = _aggregate("panorama_noc4pc", pairs)
    assert next(iter(scores)) == "accuracy"
    assert scores["accuracy"] == pytest.approx(200 / 3)
    # ALLOW: F1 1; 103: P 1 R 0.5 -> 2/3; 102: F1 0
    assert scores["macro_f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)


def test_ordering_averages_kendall_tau() -> None:
    pairs = [(tagged("[0, 1, 2]"), "[0, 1, 2]"), (tagged("[2, 1, 0]"), "[0, 1, 2]")]
    assert _aggregate("bioprobench_ord", pairs)["kendall_tau"] == pytest.approx(0.0)


def test_unsupported_property_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    # ChemCoTBench's activity oracles need their models folder (more in tests/benchmarks).
    monkeypatch.delenv("FT_ORACLE_DIR", raising=False)
    extra = {"subtask": "drd", "source": "CCO", "property": "drd2"}
    item = EvalItem(index=0, question="q", answer="", extra=extra)
    with pytest.raises(UnsupportedPropertyError, match="oracle"):
        get_adapter("chemcotbench_mol_opt").judge('{"output": "not a smiles"}', item)


def test_bad_gold_answers_fail_loudly() -> None:
    with pytest.raises(ValueError, match="not an order"):
        get_adapter("bioprobench_ord").judge(tagged("[0]"), EvalItem(0, "q", "0, 0"))
    with pytest.raises(ValueError, match="ALLOW/102/103"):
        get_adapter("panorama_noc4pc").judge('{"code": "103"}', EvalItem(0, "q", "?"))
