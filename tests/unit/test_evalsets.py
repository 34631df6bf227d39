"""The evaluation-set contract: upstream's seeded shuffle, per-group head/tail splits, their
hash, and the exclusion fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from ftapi.catalog import BENCHMARKS
from ftapi.evalsets import EVALSETS, EvalRow, EvalSet, LayoutError, SourceRow, cut_splits
from ftapi.evalsets.base import fingerprint, fingerprints, head_tail, shuffled, splits_hash


class Plain(EvalSet):
    def build(self, rows):  # pragma: no cover - not read here
        return []


def layout(seed: int | None = None) -> Plain:
    return Plain(
        benchmark="b",
        repo="org/b",
        files=("x.jsonl",),
        shuffle_seed=seed,
        split_note="",
        question_note="",
        sources=(),
    )


def rows(n: int, groups: int = 1) -> list[EvalRow]:
    return [
        EvalRow(
            id=f"i{i}", question=f"q{i}", answer="a", group=f"g{i % groups}" if groups > 1 else None
        )
        for i in range(n)
    ]


def test_every_catalog_benchmark_has_a_layout_from_its_catalog_repository():
    assert sorted(EVALSETS) == sorted(BENCHMARKS)
    for key, evalset in EVALSETS.items():
        assert evalset.benchmark == key
        assert evalset.repo == BENCHMARKS[key].eval_hf_id
        assert evalset.files and all("*" not in f and "?" not in f for f in evalset.files)
        assert evalset.sources, f"{key} cites no upstream source"


def test_head_tail_is_rdagents_range():
    # validation [:min(100, n//2)], test [-min(100, n//2):]
    assert head_tail(30, 100) == (range(0, 15), range(15, 30))
    assert head_tail(31, 100) == (range(0, 15), range(16, 31))
    assert head_tail(886, 100) == (range(0, 100), range(786, 886))
    assert head_tail(1, 100) == (range(0, 0), range(1, 1))


def test_seeded_shuffle_is_hf_datasets_shuffle():
    # datasets.Dataset.shuffle(seed) takes np.random.default_rng(seed).permutation(n).
    expected = list(np.random.default_rng(42).permutation(97))
    assert shuffled(97, 42) == expected
    assert shuffled(5, None) == [0, 1, 2, 3, 4]


def test_splits_of_a_shuffled_set_are_disjoint_heads_and_tails_of_the_permutation():
    items = rows(50)
    splits = cut_splits(layout(42), items, 10, 7)
    order = [f"i{i}" for i in np.random.default_rng(42).permutation(50)]
    assert splits.validation == order[:10]
    assert splits.test == order[-7:]
    assert not set(splits.validation) & set(splits.test)
    assert splits.sha256 == splits_hash("b", splits.validation, splits.test)


def test_groups_are_cut_separately_in_order_of_first_appearance():
    items = rows(30, groups=3)  # g0, g1, g2 with 10 items each
    splits = cut_splits(layout(), items, 100, 100)
    assert splits.validation == [
        f"i{i}" for i in (0, 3, 6, 9, 12, 1, 4, 7, 10, 13, 2, 5, 8, 11, 14)
    ]
    assert splits.test[:5] == ["i15", "i18", "i21", "i24", "i27"]
    assert len(splits.validation) == len(splits.test) == 15


def test_the_hash_changes_with_any_id_and_repeated_ids_are_refused():
    first = cut_splits(layout(), rows(10), 100, 100)
    changed = [*rows(9), EvalRow(id="other", question="q", answer="a")]
    assert cut_splits(layout(), changed, 100, 100).sha256 != first.sha256
    with pytest.raises(LayoutError, match="repeated item ids"):
        cut_splits(layout(), [*rows(3), EvalRow(id="i0", question="q", answer="a")], 100, 100)


def test_fingerprints_ignore_case_spacing_and_punctuation_only():
    assert fingerprint("What is  2+2?") == fingerprint("what is 2 2")
    assert fingerprint("What is 2+3?") != fingerprint("What is 2+2?")
    item = EvalRow(id="x", question="q", answer="a", keys=["Claim 1 of 123", "  "])
    assert fingerprints([item]) == [fingerprint("claim 1 of 123")]


def test_source_rows_name_the_missing_field():
    row = SourceRow(file="PAR4PC/test.parquet", position=3, row={"context": "{}"})
    with pytest.raises(LayoutError, match=r"PAR4PC/test.parquet row 3: no column 'options'"):
        row.field("options")
    with pytest.raises(LayoutError, match="not JSON text"):
        SourceRow(file="f", position=0, row={"meta": "{oops"}).json_field("meta")
