"""ChemCoTBench: the upstream layout, the fork's scorers on hand-computed cases, and the ChemCoT
recipe on the training dataset's layout (fixtures in ``fixtures.hub_layouts.chemcot``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures.hub_layouts import chemcot as fx
from fixtures.stand_in_oracle import FILES, expected_score, stand_in_model

from ftagent.rawdata import discover
from ftagent.recipes import get_recipe
from ftagent.recipes.base import RecipeRun
from ftagent.tokens import TokenCounter
from ftapi.catalog import get_benchmark, get_dataset
from ftapi.evalsets import EvalRow, LayoutError, SourceRow, cut_splits, fingerprints, get_evalset
from ftapi.evalsets.chemcot import SUBTASKS
from fteval.adapters import EvalItem, get_adapter
from fteval.adapters.chemcot import (
    ORACLE_DIR_ENV,
    ChemJudgement,
    UnsupportedPropertyError,
    esol,
    parse_mol_und,
    parse_reaction,
)

BENCHMARKS = {
    "chemcotbench_mol_und": "mol_und",
    "chemcotbench_mol_edit": "mol_edit",
    "chemcotbench_mol_opt": "mol_opt",
    "chemcotbench_reaction": "reaction",
}


def source_rows(benchmark: str, extra: list[SourceRow] = ()) -> list[SourceRow]:
    """The layout's files parsed as prepare parses ``.json`` (the JSON array), in file order."""
    files = fx.repos()[fx.BENCH]
    rows = [
        SourceRow(path, i, row)
        for path in get_evalset(benchmark).files
        for i, row in enumerate(json.loads(files[path]))
    ]
    return rows + list(extra)


def items_of(benchmark: str) -> list[EvalRow]:
    return get_evalset(benchmark).build(source_rows(benchmark))


def item(index: int, answer: str, **extra) -> EvalItem:
    return EvalItem(index=index, question="q", answer=answer, extra=extra)


def reply(payload: dict) -> str:
    return "```json\n" + json.dumps(payload) + "\n```"


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize(("benchmark", "task"), sorted(BENCHMARKS.items()))
def test_files_are_the_tasks_subtask_files_in_sorted_path_order(benchmark: str, task: str) -> None:
    evalset = get_evalset(benchmark)
    assert evalset.repo == "OpenMol/ChemCoTBench"
    expected = sorted(f"chemcotbench/{task}/{s}.json" for s in SUBTASKS[task])
    assert list(evalset.files) == expected
    assert set(evalset.files) <= set(fx.repos()[fx.BENCH])
    assert evalset.shuffle_seed is None  # the seed-42 shuffle is per subtask, inside build


@pytest.mark.parametrize(("benchmark", "task"), sorted(BENCHMARKS.items()))
def test_items_are_shuffled_per_subtask_and_split_per_subtask(benchmark: str, task: str) -> None:
    files = fx.repos()[fx.BENCH]
    items = items_of(benchmark)
    assert len({i.id for i in items}) == len(items)
    splits = cut_splits(get_evalset(benchmark), items, 100, 100)
    validation, test = set(splits.validation), set(splits.test)
    assert not validation & test
    for subtask in SUBTASKS[task]:
        rows = json.loads(files[f"chemcotbench/{task}/{subtask}.json"])
        n = len(rows)
        # Upstream: filter, map, Dataset.shuffle(seed=42) = default_rng(42).permutation(n),
        # then [:min(100, n//2)] and [-min(100, n//2):] of this subtask's dataset.
        order = [f"{subtask}/{rows[i]['id']}" for i in np.random.default_rng(42).permutation(n)]
        assert [i.id for i in items if i.group == subtask] == order
        size = min(100, n // 2)
        assert [i for i in splits.validation if i.startswith(f"{subtask}/")] == order[:size]
        assert [i for i in splits.test if i.startswith(f"{subtask}/")] == order[n - size :]
    sizes = {s: len(json.loads(files[f"chemcotbench/{task}/{s}.json"])) for s in SUBTASKS[task]}
    assert len(validation) == sum(n // 2 for n in sizes.values())
    assert any(n % 2 for n in sizes.values())  # an odd subtask leaves its middle item out


def test_rows_of_other_tasks_and_subtasks_are_left_out() -> None:
    stray = [
        SourceRow(
            "chemcotbench/mol_und/fg_count.json",
            90,
            {
                "id": "x",
                "task": "mol_edit",
                "subtask": "fg_count",
                "query": "q",
                "gt": "1",
                "meta": "{}",
            },
        ),
        SourceRow(
            "chemcotbench/mol_und/fg_count.json",
            91,
            {
                "id": "y",
                "task": "mol_und",
                "subtask": "fg_count_v2",
                "query": "q",
                "gt": "1",
                "meta": "{}",
            },
        ),
    ]
    items = get_evalset("chemcotbench_mol_und").build(source_rows("chemcotbench_mol_und", stray))
    assert len(items) == len(items_of("chemcotbench_mol_und"))
    assert not {"fg_count/x", "fg_count/y"} & {i.id for i in items}


def test_gold_and_extras_come_from_the_named_fields() -> None:
    files = fx.repos()[fx.BENCH]
    raw = json.loads(files["chemcotbench/mol_edit/sub.json"])[0]
    meta = json.loads(raw["meta"])
    sub = next(i for i in items_of("chemcotbench_mol_edit") if i.id == f"sub/{raw['id']}")
    assert sub.question == raw["query"]
    assert sub.answer == meta["reference"]  # gt is empty for mol_edit
    assert sub.extra == {
        "subtask": "sub",
        "source": meta["molecule"],  # read from 'Input Molecule:' of the query
        "added_group": "halo",
        "removed_group": "hydroxyl",
    }
    raw = json.loads(files["chemcotbench/mol_opt/drd.json"])[3]
    opt = next(i for i in items_of("chemcotbench_mol_opt") if i.id == f"drd/{raw['id']}")
    assert (opt.answer, opt.extra) == (
        "",
        {"subtask": "drd", "source": fx.TARGET_SOURCES[3], "property": "drd2"},
    )
    raw = json.loads(files["chemcotbench/reaction/fs.json"])[2]
    fs = next(i for i in items_of("chemcotbench_reaction") if i.id == f"fs/{raw['id']}")
    assert fs.answer == fx.REACTIONS[2][2]  # the "Major Product" of gt's JSON text
    und = items_of("chemcotbench_mol_und")
    assert {i.answer for i in und if i.group == "equivalence"} == {"Yes", "No"}


def test_missing_fields_are_layout_errors() -> None:
    files = fx.repos()[fx.BENCH]
    path = "chemcotbench/mol_edit/add.json"
    row = json.loads(files[path])[0]
    evalset = get_evalset("chemcotbench_mol_edit")
    no_reference = {**row, "meta": json.dumps({"molecule": "CCO", "added_group": "halo"})}
    with pytest.raises(LayoutError, match=r"add.json row 0: meta has no non-empty 'reference'"):
        evalset.build([SourceRow(path, 0, no_reference)])
    no_query = {k: v for k, v in row.items() if k != "query"}
    with pytest.raises(LayoutError, match="no column 'query'"):
        evalset.build([SourceRow(path, 0, no_query)])
    no_source = {**row, "query": "Add a halo to ethanol."}
    with pytest.raises(LayoutError, match="Input Molecule"):
        evalset.build([SourceRow(path, 0, no_source)])


# ----------------------------------------------------------------------------- scoring


def test_parsers_follow_the_fork() -> None:
    # <think> blocks go, the first ```json block is parsed.
    assert parse_mol_und('<think>{"count": 9}</think>```json\n{"count": 2}\n```', "fg_count") == "2"
    # No JSON: the "count" pattern, then the first number of the text.
    assert parse_mol_und('so "count": 4 I think', "fg_count") == "4"
    assert parse_mol_und("I count 3 rings and 5 atoms", "ring_count") == "3"
    # Yes/No: the "output" pattern, then a standalone yes/no word.
    assert parse_mol_und("They are the same, yes.", "equivalence") == "Yes"
    # A JSON object without the subtask's key falls back to the patterns.
    assert parse_mol_und('{"result": 3}', "fg_count") == "3"
    # Reaction: a JSON object answers even without the key (None: wrong, not the fallback).
    assert parse_reaction('{"product": "CCO"}', "fs") is None
    assert parse_reaction('Thus "Major Product": "CCO" forms', "fs") == "CCO"
    assert parse_reaction('{"choice": "c"}', "mechsel") == "C"
    # rcr has no pattern fallback: prose around the JSON object makes it unreadable.
    assert (
        parse_reaction('The reagent: {"condition": "CO"}', "rcr")
        == 'The reagent: {"condition": "CO"}'
    )


def test_mol_und_core_is_equivalence_accuracy_counts_are_mae() -> None:
    adapter = get_adapter("chemcotbench_mol_und")
    cases = [
        (reply({"output": "Yes"}), item(0, "Yes", subtask="equivalence")),  # right
        (reply({"output": "no"}), item(1, "No", subtask="equivalence")),  # right (lower-cased)
        (reply({"output": "Yes"}), item(2, "No", subtask="equivalence")),  # wrong
        ("no idea", item(3, "Yes", subtask="equivalence")),  # 'no' word found: wrong
        (reply({"count": "3"}), item(4, "5", subtask="fg_count")),  # |3-5| = 2
        ("nothing countable", item(5, "4", subtask="fg_count")),  # unreadable: |0-4| = 4
        (reply({"count": 2}), item(6, "2", subtask="ring_count")),  # 0
        (reply({"output": "Yes"}), item(7, "Yes", subtask="ring_system_scaffold")),
        (reply({"Output Scaffold": "c1ccccc1"}), item(8, "c1ccccc1", subtask="Murcko_scaffold")),
        (reply({"Output Scaffold": "C1CC1"}), item(9, "c1ccccc1", subtask="Murcko_scaffold")),
    ]
    judgements = [adapter.judge(p, i) for p, i in cases]
    weights = [j.weight for j in adapter.reweigh(judgements)]
    # Only equivalence is counted (RD-Agent's processor finds no 'accuracy' for the counts,
    # no 'scaffold_hard' for Murcko, no 'score' for ring systems): weights 1 there, 0 else.
    assert weights == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    metrics = adapter.aggregate(judgements)
    assert next(iter(metrics)) == "accuracy"
    assert metrics["accuracy"] == pytest.approx(50.0)  # 2 of 4 equivalence items
    assert metrics["fg_count_mae"] == pytest.approx((2 + 4) / 2)
    assert metrics["ring_count_mae"] == 0.0
    assert metrics["ring_system_scaffold_accuracy"] == 100.0
    # Tanimoto 1 for the same scaffold, 0 for cyclopropane vs benzene (no shared bit): 0.5.
    assert metrics["Murcko_scaffold_tanimoto_similarity_larger_means_better"] == pytest.approx(0.5)
    assert judgements[3].extracted == "No"
    assert judgements[5].extracted is None  # nothing parsed: reported as malformed


def test_mol_edit_counts_groups_with_the_forks_smarts_and_averages_subtasks() -> None:
    adapter = get_adapter("chemcotbench_mol_edit")
    add = {"subtask": "add", "source": "CCc1ccccc1", "added_group": "hydroxyl"}
    cases = [
        # hydroxyl [OX2H]: 0 -> 1: right
        (reply({"output": "OCCc1ccccc1"}), item(0, "OCCc1ccccc1", **add)),
        # an acid OH also matches [OX2H] (0 -> 1): right under the fork's SMARTS
        (reply({"output": "OC(=O)CCc1ccccc1"}), item(1, "OCCc1ccccc1", **add)),
        # halo [F,Cl,Br,I]: 1 -> 0: right
        (
            reply({"output": "CCc1ccccc1"}),
            item(2, "CCc1ccccc1", subtask="delete", source="ClCCc1ccccc1", removed_group="halo"),
        ),
    ]
    sub = {"subtask": "sub", "source": "OCCC", "added_group": "halo", "removed_group": "hydroxyl"}
    cases += [
        (reply({"output": "ClCCC"}), item(3, "ClCCC", **sub)),  # OH 1->0, Cl 0->1: right
        (reply({"output": "ClCCCO"}), item(4, "ClCCC", **sub)),  # OH stays 1: wrong
        (reply({"output": "C1CC"}), item(5, "ClCCC", **sub)),  # not a SMILES: wrong
    ]
    judgements = [adapter.judge(p, i) for p, i in cases]
    assert [j.correct for j in judgements] == [True, True, True, True, False, False]
    # mean over subtasks: add 2/2, delete 1/1, sub 1/3 -> (100 + 100 + 33.33) / 3
    metrics = adapter.aggregate(judgements)
    assert metrics["correct_rate"] == pytest.approx((100 + 100 + 100 / 3) / 3)
    # weights L / n_k with L = lcm(2, 1, 3) = 6: add 3, delete 6, sub 2
    # weighted mean = (3+3+6+2) / (3*2 + 6*1 + 2*3) = 14/18 = (1 + 1 + 1/3) / 3
    assert [j.weight for j in adapter.reweigh(judgements)] == [3, 3, 6, 2, 2, 2]
    assert metrics["sub_valid_rate"] == pytest.approx(200 / 3)
    # A group name outside the fork's table never counts (the fork returns False).
    odd = item(6, "c1ccccc1C", subtask="add", source="Cc1ccccc1", added_group="benzene ring")
    assert not adapter.judge(reply({"output": "Cc1ccccc1-c1ccccc1"}), odd).correct


def test_esol_uses_the_forks_refit_coefficients() -> None:
    # benzene: MW 78.114, Crippen logP 1.6866, 0 rotatable bonds, 6 of 6 atoms aromatic:
    # 0.26121066 - 0.74167395*1.6866 - 0.00661388*78.114 + 0.00345155*0 - 0.42624840*1
    # = 0.26121066 - 1.25090729 - 0.51663700 - 0.42624840 = -1.93258203
    assert esol("c1ccccc1") == pytest.approx(-1.932582, abs=1e-5)
    assert esol("not a smiles") is None


def test_mol_opt_success_is_a_strict_improvement_averaged_over_subtasks() -> None:
    adapter = get_adapter("chemcotbench_mol_opt")
    logp = {"subtask": "logp", "source": "CCO", "property": "logp"}
    sol = {"subtask": "solubility", "source": "c1ccccc1", "property": "solubility"}
    cases = [
        # Crippen logP: CCO -0.0014 -> CCCCCCO 1.5594: improved
        (reply({"Final Target Molecule": "CCCCCCO"}), item(0, "", **logp)),
        (reply({"Final Target Molecule": "CCO"}), item(1, "", **logp)),  # same: not > 0
        (reply({"Final Target Molecule": "C1CC"}), item(2, "", **logp)),  # invalid
        # ESOL: benzene -1.9326 -> ethanol -0.0424: improved
        (reply({"Final Target Molecule": "CCO"}), item(3, "", **sol)),
    ]
    judgements = [adapter.judge(p, i) for p, i in cases]
    assert [j.correct for j in judgements] == [True, False, False, True]
    assert isinstance(judgements[0], ChemJudgement)
    assert judgements[0].value == pytest.approx(1.5594 + 0.0014, abs=1e-3)
    metrics = adapter.aggregate(judgements)
    assert metrics["success_rate"] == pytest.approx((100 / 3 + 100) / 2)
    assert metrics["logp_valid_smiles_rate"] == pytest.approx(200 / 3)


def test_activity_oracles_come_from_the_oracle_folder(tmp_path: Path, monkeypatch) -> None:
    adapter = get_adapter("chemcotbench_mol_opt")
    drd = item(0, "", subtask="drd", source="COc1ccccc1", property="drd2")
    monkeypatch.delenv(ORACLE_DIR_ENV, raising=False)
    with pytest.raises(UnsupportedPropertyError, match=ORACLE_DIR_ENV):
        adapter.judge(reply({"Final Target Molecule": "CCO"}), drd)
    model = stand_in_model("drd2")
    import pickle

    (tmp_path / FILES["drd2"]).write_bytes(pickle.dumps(model))
    monkeypatch.setenv(ORACLE_DIR_ENV, str(tmp_path))
    for candidate in ("CCO", "c1ccncc1"):
        judgement = adapter.judge(reply({"Final Target Molecule": candidate}), drd)
        gain = expected_score(model, "drd2", candidate) - expected_score(
            model, "drd2", "COc1ccccc1"
        )
        assert judgement.value == pytest.approx(gain)
        assert judgement.correct is (gain > 0)


def test_reaction_exact_match_by_inchi_text_and_letter() -> None:
    adapter = get_adapter("chemcotbench_reaction")
    cases = [
        (reply({"Major Product": "OC(C)=O"}), item(0, "CC(=O)O", subtask="fs")),  # same InChI
        (reply({"Major Product": "CCO"}), item(1, "CC(=O)O", subtask="fs")),
        (reply({"Reactants": "CCO.CC(=O)O"}), item(2, "OC(C)=O.OCC", subtask="retro")),
        (reply({"condition": " [Pd] "}), item(3, "[pd]", subtask="rcr")),  # lower-cased, stripped
        (reply({"choice": "B"}), item(4, "B", subtask="mechsel")),
        (reply({"choice": "A"}), item(5, "B", subtask="mechsel")),
        (reply({"output": "CCN"}), item(6, "NCC", subtask="nepp")),
    ]
    judgements = [adapter.judge(p, i) for p, i in cases]
    assert [j.correct for j in judgements] == [True, False, True, True, True, False, True]
    # mean over subtasks: fs 1/2, retro 1, rcr 1, mechsel 1/2, nepp 1 -> (50+100+100+50+100)/5
    metrics = adapter.aggregate(judgements)
    assert metrics["exact_match"] == pytest.approx(80.0)
    assert metrics["mechsel_accuracy"] == 50.0
    # weights L / n_k, L = lcm(2, 1, 1, 2, 1) = 2: fs 1, retro 2, rcr 2, mechsel 1, nepp 2;
    # (1 + 0 + 2 + 2 + 1 + 0 + 2) / (1+1+2+2+1+1+2) = 8/10
    assert [j.weight for j in adapter.reweigh(judgements)] == [1, 1, 2, 2, 1, 1, 2]


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_fixture_replies_score_full_and_low(benchmark: str, tmp_path: Path, monkeypatch) -> None:
    import pickle

    for name, file in FILES.items():
        (tmp_path / file).write_bytes(pickle.dumps(stand_in_model(name)))
    monkeypatch.setenv(ORACLE_DIR_ENV, str(tmp_path))
    adapter = get_adapter(benchmark)
    items = items_of(benchmark)
    for reply_of, low, high in ((fx.gold_reply, 100.0, 100.0), (fx.wrong_reply, 0.0, 0.0)):
        judgements = [
            adapter.judge(reply_of(benchmark, it), EvalItem(k, it.question, it.answer, it.extra))
            for k, it in enumerate(items)
        ]
        core = next(iter(adapter.aggregate(judgements).values()))
        assert low <= core <= high, (benchmark, reply_of.__name__)


# ----------------------------------------------------------------------------- recipe


def training_root(tmp_path: Path) -> Path:
    root = tmp_path / "chemcot"
    for path, data in fx.repos()[fx.TRAIN].items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def recipe_run(tmp_path: Path, benchmark: str, exclude: frozenset[str] = frozenset()):
    files = discover(get_dataset("chemcot"), training_root(tmp_path))
    run = RecipeRun(
        benchmark=get_benchmark(benchmark),
        limit=100,
        seed=3,
        tokens=TokenCounter(),
        max_tokens=100_000,
        exclude=exclude,
    )
    return get_recipe("chemcot").build(files, run)


@pytest.mark.parametrize(("benchmark", "task"), sorted(BENCHMARKS.items()))
def test_recipe_reads_its_task_folder_and_leaves_evaluation_items_out(
    tmp_path: Path, benchmark: str, task: str
) -> None:
    folder = "rxn" if task == "reaction" else task
    full = recipe_run(tmp_path / "a", benchmark)
    assert full.files and all(f.startswith(f"chemcotbench-cot/{folder}/") for f in full.files)
    items = items_of(benchmark)
    result = recipe_run(tmp_path / "b", benchmark, frozenset(fingerprints(items)))
    # Planted: one query each; mol_edit's is reworded (same molecule and group), and rcr's
    # first row is the Suzuki reaction of an rcr evaluation item (same task and molecules).
    planted = {"mol_und": 1, "mol_edit": 1, "mol_opt": 1, "reaction": 2}[task]
    assert result.excluded == planted
    assert len(result.records) == len(full.records) - planted
    questions = {i.question for i in items}
    for record in result.records:
        assert record.instruction.strip() and record.output.strip()
        assert record.instruction not in questions
        assert record.output.rstrip().endswith("```")


def _scored(benchmark: str, record, extra: dict, answer: str = "") -> bool:
    judgement = get_adapter(benchmark).judge(record.output, EvalItem(0, "q", answer, extra))
    return judgement.correct


def test_recipe_outputs_are_scored_correct_by_the_adapter(tmp_path: Path) -> None:
    und = recipe_run(tmp_path / "und", "chemcotbench_mol_und").records
    counts = {r.instruction: r for r in und if "Functional Group: hydroxyl" in r.instruction}
    record = counts[
        "How many hydroxyl groups? Input Molecule: OC(CO)CCO, Functional Group: hydroxyl."
    ]
    assert _scored("chemcotbench_mol_und", record, {"subtask": "fg_count"}, "3")
    edit = recipe_run(tmp_path / "edit", "chemcotbench_mol_edit").records
    for record in edit:
        source = record.instruction.split("Input Molecule: ")[1].split(",")[0]
        add = "Functional Group to add" in record.instruction
        extra = {"subtask": "add" if add else "delete", "source": source}
        group = record.instruction.rsplit(": ", 1)[1].rstrip(".")
        extra["added_group" if add else "removed_group"] = group
        assert _scored("chemcotbench_mol_edit", record, extra), record
    opt = recipe_run(tmp_path / "opt", "chemcotbench_mol_opt").records
    for record in opt:
        source = record.instruction.rsplit("Source Molecule: ", 1)[1].rstrip(".")
        prop = "qed" if "QED" in record.instruction else "logp"
        assert _scored(
            "chemcotbench_mol_opt", record, {"subtask": prop, "source": source, "property": prop}
        )
    rxn = recipe_run(tmp_path / "rxn", "chemcotbench_reaction").records
    rcr = [r for r in rxn if r.instruction.startswith("Which reagent?")]
    assert len(rcr) == 2
    for record in rcr:
        gold = "[Pd]" if "OB(O)" in record.instruction else "Cl"
        assert "```json" not in record.output.split("\n\n")[0]  # the cot_result fence is gone
        assert _scored("chemcotbench_reaction", record, {"subtask": "rcr"}, gold)
    major = next(r for r in rxn if r.instruction.startswith("Main product? Input Reactants: CCBr"))
    assert _scored("chemcotbench_reaction", major, {"subtask": "fs"}, "CCOc1ccccc1")
