"""The benchmark catalog: every benchmark and raw training dataset a campaign can name.

A ``FineTuneCampaign`` names a benchmark by key (``spec.benchmark``) and may name training
datasets (``spec.datasets``); this module is where those keys are defined and resolved. It is
pure data plus pydantic models, so every part of the system can import it cheaply:

- the operator validates ``spec.benchmark``/``spec.datasets`` and fills the defaults
  (description, datasets, validation/test ranges);
- the agent pod reads the task description, the expected answer format and the raw datasets
  to download (with the files that would leak benchmark content excluded);
- the eval workers pick the evaluation set, the subset and the core metric;
- the ``ftctl`` CLI lists benchmarks and suggests the closest key on a typo.

Facts come from ``benchmarks.md`` (FT-Dojo / RD-Agent's fine-tuning scenario). Validation is
the first ``min(limit, N // 2)`` items of the evaluation set and test the last as many, so the
two never overlap; the agent only ever sees validation scores.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BENCHMARKS",
    "DATASETS",
    "AnswerFormat",
    "Benchmark",
    "Domain",
    "Metric",
    "RawDataset",
    "UnknownKeyError",
    "closest_keys",
    "get_benchmark",
    "get_dataset",
]


class Domain(StrEnum):
    """The field a benchmark belongs to."""

    math = "math"
    patent = "patent"
    chemistry = "chemistry"
    table_qa = "table-qa"
    finance = "finance"
    biology = "biology"


class AnswerFormat(StrEnum):
    """How the model must write its final answer for the scorer to find it."""

    boxed_integer = "boxed_integer"
    """An integer inside ``\\boxed{}``."""
    json = "json"
    """A JSON object such as ``{"answer": "A"}``."""
    json_output = "json_output"
    """A JSON object ``{"output": ...}``."""
    final_answer = "final_answer"
    """A last line ``Final Answer: ...``."""
    python_code = "python_code"
    """A Python code block."""
    choice_letter = "choice_letter"
    """The capital letter of a multiple-choice option."""
    answer_tags = "answer_tags"
    """The answer between ``[ANSWER_START]`` and ``[ANSWER_END]``."""


class Metric(StrEnum):
    """A benchmark's core metric: the one number that decides acceptance."""

    accuracy = "accuracy"
    macro_f1 = "macro_f1"
    gold_hit_rate = "gold_hit_rate"
    correct_rate = "correct_rate"
    success_rate = "success_rate"
    exact_match = "exact_match"
    pass_at_1 = "pass_at_1"
    rouge_l = "rouge_l"
    kendall_tau = "kendall_tau"
    f1 = "f1"


class RawDataset(BaseModel):
    """A raw training dataset on the Hugging Face Hub, with what to leave out of it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    key: str
    """Catalog key, as written in ``spec.datasets``."""
    hf_id: str
    """Hugging Face dataset id."""
    description: str
    """What the dataset holds, for the agent's prompt."""
    exclude_patterns: tuple[str, ...] = ()
    """File-name globs not to download: files that hold benchmark content."""
    drop_splits: tuple[str, ...] = ()
    """Splits to drop after download because the benchmark uses them."""


class Benchmark(BaseModel):
    """A benchmark: its evaluation set, answer format, core metric and default datasets."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    key: str
    """Catalog key, as written in ``spec.benchmark``."""
    domain: Domain
    """The field the benchmark belongs to."""
    datasets: tuple[str, ...]
    """Default training dataset keys (keys of ``DATASETS``)."""
    eval_hf_id: str
    """Hugging Face id of the benchmark's evaluation set."""
    eval_subset: str | None = None
    """Subset (task, config or folder) of the evaluation set; None for the whole set."""
    answer_format: AnswerFormat
    """How the model must write its final answer."""
    metric: Metric
    """The core metric; several subsets are averaged."""
    metric_note: str
    """How the metric is computed, in a few words."""
    description: str
    """Default task description, stating the task and the expected output format."""
    eval_size: int | None = None
    """Number of items in the evaluation set, when known."""
    shots: int = 0
    """In-context examples in front of every evaluation item (FinanceIQ: 5-shot)."""
    shots_subset: str | None = None
    """Where the in-context examples come from: a file name pattern of the evaluation set's
    repository, like ``eval_subset`` (FinanceIQ: its ``dev`` files, one per subject)."""
    shots_answer: str = "Answer: {answer}"
    """How an in-context example's answer is written after it."""
    judge_allowed: bool = False
    """Upstream's scorer lets an LLM judge decide the items its rule marks wrong (aime25's
    CascadeEvaluator); elsewhere scoring is rule-based only."""

    def split_ranges(self, n_items: int, limit: int = 100) -> tuple[range, range]:
        """Return (validation, test) item ranges over an evaluation set of ``n_items``.

        Validation is the first ``min(limit, n_items // 2)`` items and test the last as many,
        so the two are always disjoint (the middle item of an odd-sized set is unused).
        """
        if n_items < 0:
            raise ValueError(f"n_items must be >= 0, got {n_items}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        size = min(limit, n_items // 2)
        return range(0, size), range(n_items - size, n_items)


class UnknownKeyError(ValueError):
    """A benchmark or dataset key that is not in the catalog."""

    def __init__(self, kind: str, key: str, choices: Iterable[str]) -> None:
        self.kind = kind
        self.key = key
        self.choices = tuple(choices)
        self.suggestions = tuple(closest_keys(key, self.choices))
        if self.suggestions:
            hint = f"did you mean: {', '.join(self.suggestions)}?"
        else:
            hint = f"known {kind}s: {', '.join(sorted(self.choices))}"
        super().__init__(f"unknown {kind} {key!r}; {hint}")

    def __reduce__(self) -> tuple[type[UnknownKeyError], tuple[str, str, tuple[str, ...]]]:
        # Rebuild from the constructor's arguments, not the message (pickling across processes).
        return (type(self), (self.kind, self.key, self.choices))


def closest_keys(key: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` keys of ``choices`` closest to ``key``, best first.

    Matching ignores case. difflib's similarity ranks first; keys that contain the query (or
    that it contains) fill the remaining places, so ``tablebench`` still finds the TableBench
    subsets.
    """
    if n <= 0:
        return []
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    query = key.lower().strip()
    ranked = difflib.get_close_matches(query, list(by_lower), n=n, cutoff=0.6)
    if query and len(ranked) < n:
        for lower in sorted(by_lower):
            if len(ranked) >= n:
                break
            if lower not in ranked and (query in lower or lower in query):
                ranked.append(lower)
    return [by_lower[lower] for lower in ranked]


def _datasets(*items: RawDataset) -> Mapping[str, RawDataset]:
    return MappingProxyType({item.key: item for item in items})


def _benchmarks(*items: Benchmark) -> Mapping[str, Benchmark]:
    return MappingProxyType({item.key: item for item in items})


DATASETS: Mapping[str, RawDataset] = _datasets(
    RawDataset(
        key="deepscaler",
        hf_id="agentica-org/DeepScaleR-Preview-Dataset",
        description=(
            "About 40K competition math problems (AIME, AMC, Omni-MATH, STILL) with "
            "reference solutions and final answers."
        ),
    ),
    RawDataset(
        key="panorama",
        hf_id="LG-AI-Research/PANORAMA",
        description=(
            "USPTO patent examination records: prior-art retrieval (PAR4PC), paragraph "
            "identification (PI4PC) and novelty/non-obviousness classification (NOC4PC)."
        ),
        exclude_patterns=("*validation*", "*test*"),
    ),
    RawDataset(
        key="chemcot",
        hf_id="OpenMol/ChemCoTDataset",
        description=(
            "Chemistry chain-of-thought samples over SMILES: molecule understanding, "
            "editing, optimisation and reactions."
        ),
    ),
    RawDataset(
        key="tableinstruct",
        hf_id="Multilingual-Multimodal-NLP/TableInstruct",
        description=(
            "Table question-answering instructions: fact checking, numerical reasoning, "
            "data analysis and chart generation over JSON tables."
        ),
    ),
    RawDataset(
        key="financeiq",
        hf_id="Duxiaoman-DI/FinanceIQ",
        description=(
            "Chinese multiple-choice finance exam questions across 10 subjects; only rows "
            "the benchmark does not use are kept."
        ),
        drop_splits=("dev",),
    ),
    RawDataset(
        key="bioprobench",
        hf_id="bowenxian/BioProBench",
        description=(
            "Biological protocol tasks: protocol QA, step ordering, error correction and "
            "protocol generation."
        ),
        exclude_patterns=("*_test.json",),
    ),
)

_PANORAMA_JSON = (
    "Expected Output Format: respond with a JSON object only, "
    'with the answer under the key "answer"'
)
_CHEMCOT_JSON = 'Expected Output Format: end with a JSON object {"output": ...}'
_TABLE_FINAL = (
    "Expected Output Format: reason step by step, then end with a last line of the form "
    '"Final Answer: AnswerName1, AnswerName2..."'
)
_BIO_TAGS = "Expected Output Format: put the final answer between [ANSWER_START] and [ANSWER_END]"

BENCHMARKS: Mapping[str, Benchmark] = _benchmarks(
    Benchmark(
        key="aime24",
        domain=Domain.math,
        datasets=("deepscaler",),
        eval_hf_id="HuggingFaceH4/aime_2024",
        answer_format=AnswerFormat.boxed_integer,
        metric=Metric.accuracy,
        metric_note="math-verify style answer equivalence",
        description=(
            "AIME 2024 math competition problems. Each answer is an integer from 0 to 999. "
            "Expected Output Format: put the final answer within \\boxed{}, "
            "for example \\boxed{42}."
        ),
        eval_size=30,
    ),
    Benchmark(
        key="aime25",
        domain=Domain.math,
        datasets=("deepscaler",),
        eval_hf_id="opencompass/AIME2025",
        answer_format=AnswerFormat.boxed_integer,
        metric=Metric.accuracy,
        metric_note="math-verify first; an LLM judge may be used as fallback",
        judge_allowed=True,
        description=(
            "AIME 2025 math competition problems. Each answer is an integer from 0 to 999. "
            "Expected Output Format: put the final answer within \\boxed{}, "
            "for example \\boxed{42}."
        ),
        eval_size=30,
    ),
    Benchmark(
        key="panorama_par4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        eval_subset="PAR4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.macro_f1,
        metric_note="macro F1 of the chosen letters against the gold prior art",
        description=(
            "PANORAMA PAR4PC patent prior-art retrieval: given a patent application's claims, "
            "a target claim and eight candidate patents (A-H), pick the patent(s) the examiner "
            f"cited to reject the claim. {_PANORAMA_JSON}: a letter or a list of letters, "
            'for example {"answer": "A"} or {"answer": ["A", "C"]}.'
        ),
    ),
    Benchmark(
        key="panorama_pi4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        eval_subset="PI4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.gold_hit_rate,
        metric_note="share of answers that hit a gold paragraph",
        description=(
            "PANORAMA PI4PC patent paragraph identification: given a target claim and a cited "
            "prior-art patent, identify the paragraph of the prior art the examiner relied on "
            f"to reject the claim. {_PANORAMA_JSON}: the paragraph number, "
            'for example {"answer": 12}.'
        ),
    ),
    Benchmark(
        key="panorama_noc4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        eval_subset="NOC4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.accuracy,
        metric_note="accuracy over ALLOW/102/103; macro F1 also reported",
        description=(
            "PANORAMA NOC4PC patent novelty and non-obviousness classification: given a claim "
            "and the cited prior art, decide whether the claim is allowed, rejected for lack "
            "of novelty (35 U.S.C. 102) or rejected as obvious (35 U.S.C. 103). "
            f'{_PANORAMA_JSON}: one of "ALLOW", "102" or "103", for example '
            '{"answer": "103"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_und",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        eval_subset="mol_und",
        answer_format=AnswerFormat.json_output,
        metric=Metric.accuracy,
        metric_note="accuracy over counting, scaffold and SMILES-equivalence subtasks",
        description=(
            "ChemCoTBench molecule understanding: given molecules as SMILES, count functional "
            "groups or rings, extract Murcko or ring-system scaffolds, or decide whether two "
            f"SMILES are the same molecule. {_CHEMCOT_JSON} holding the count, the SMILES or "
            'yes/no, for example {"output": 2}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_edit",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        eval_subset="mol_edit",
        answer_format=AnswerFormat.json_output,
        metric=Metric.correct_rate,
        metric_note="share of valid SMILES that carry the requested edit",
        description=(
            "ChemCoTBench molecule editing: add, delete or substitute the requested functional "
            f"group in a molecule given as SMILES. {_CHEMCOT_JSON} holding one valid SMILES of "
            'the edited molecule, for example {"output": "CCO"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_opt",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        eval_subset="mol_opt",
        answer_format=AnswerFormat.json_output,
        metric=Metric.success_rate,
        metric_note="share of valid SMILES that improve the target property",
        description=(
            "ChemCoTBench molecule optimisation: modify a molecule given as SMILES to improve "
            "a physicochemical property (LogP, solubility, QED) or a protein-target activity "
            f"(DRD2, JNK3, GSK3-beta). {_CHEMCOT_JSON} holding one valid SMILES of the "
            'optimised molecule, for example {"output": "c1ccccc1O"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_reaction",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        eval_subset="reaction",
        answer_format=AnswerFormat.json_output,
        metric=Metric.exact_match,
        metric_note="exact match of the canonical answer",
        description=(
            "ChemCoTBench chemical reactions: predict products (forward), reactants "
            "(retrosynthesis), reaction conditions or the mechanism step, with molecules as "
            f'SMILES. {_CHEMCOT_JSON} holding the answer, for example {{"output": "CC(=O)O"}}.'
        ),
    ),
    Benchmark(
        key="tablebench_data_analysis",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        eval_subset="DataAnalysis",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note="accuracy; ROUGE-L for open-ended answers",
        description=(
            "TableBench data analysis: answer analysis questions (correlation, trend "
            "forecasting, impact, statistics, descriptive analysis) about a table given as "
            f"JSON. {_TABLE_FINAL}, for example Final Answer: Increasing trend."
        ),
        eval_size=343,
    ),
    Benchmark(
        key="tablebench_fact_checking",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        eval_subset="FactChecking",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note="exact match of the final answer",
        description=(
            "TableBench fact checking: check a statement or match facts against a table given "
            f"as JSON. {_TABLE_FINAL}, for example Final Answer: Yes."
        ),
        eval_size=96,
    ),
    Benchmark(
        key="tablebench_numerical_reasoning",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        eval_subset="NumericalReasoning",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note="numbers within ±10%",
        description=(
            "TableBench numerical reasoning: compute aggregations, ratios, rankings and "
            f"multi-hop arithmetic over a table given as JSON. {_TABLE_FINAL}, with numbers "
            "written as plain digits, for example Final Answer: 42.5."
        ),
        eval_size=397,
    ),
    Benchmark(
        key="tablebench_visualization",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        eval_subset="Visualization",
        answer_format=AnswerFormat.python_code,
        metric=Metric.pass_at_1,
        metric_note="pass@1: the generated chart's data matches the reference",
        description=(
            "TableBench visualization: write Python that draws the requested chart (line, bar, "
            "pie, scatter) from a table. Expected Output Format: a single ```python code block "
            "that reads the table with pandas from 'table.csv', draws the chart with "
            "matplotlib and ends with plt.show()."
        ),
        eval_size=50,
    ),
    Benchmark(
        key="FinanceIQ_gen",
        domain=Domain.finance,
        datasets=("financeiq",),
        eval_hf_id="Duxiaoman-DI/FinanceIQ",
        eval_subset="test",
        shots=5,
        shots_subset="dev",
        shots_answer="答案：{answer}",
        answer_format=AnswerFormat.choice_letter,
        metric=Metric.accuracy,
        metric_note="5-shot, last capital letter",
        description=(
            "FinanceIQ Chinese financial exam questions, multiple choice with options A, B, C "
            "and D, across 10 subjects (banking, securities, insurance, accounting, tax, "
            "economics and more). Expected Output Format: end with the single capital letter "
            "of the correct option, for example 答案：B."
        ),
    ),
    Benchmark(
        key="bioprobench_gen",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        eval_subset="GEN",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.rouge_l,
        metric_note="ROUGE-L against the reference protocol steps",
        description=(
            "BioProBench protocol generation: write the ordered steps of a biological "
            f"protocol for the stated goal. {_BIO_TAGS}, one step per line, for example "
            "[ANSWER_START]1. Thaw the cells... 2. Centrifuge...[ANSWER_END]."
        ),
        eval_size=1000,
    ),
    Benchmark(
        key="bioprobench_ord",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        eval_subset="ORD",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.kendall_tau,
        metric_note="Kendall tau between predicted and true step order",
        description=(
            "BioProBench step ordering: put the shuffled steps of a biological protocol back "
            f"in the correct order. {_BIO_TAGS} as a list of the step indices in order, for "
            "example [ANSWER_START][2, 0, 3, 1][ANSWER_END]."
        ),
        eval_size=1000,
    ),
    Benchmark(
        key="bioprobench_err",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        eval_subset="ERR",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.f1,
        metric_note="F1 of error detection",
        description=(
            "BioProBench error correction: decide whether a step of a biological protocol "
            f"contains an error (wrong reagent, amount, time or temperature). {_BIO_TAGS}, "
            "True if the step is correct and False if it has an error, for example "
            "[ANSWER_START]False[ANSWER_END]."
        ),
        eval_size=1000,
    ),
    Benchmark(
        key="bioprobench_pqa",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        eval_subset="PQA",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.accuracy,
        metric_note="accuracy of the chosen option",
        description=(
            "BioProBench protocol question answering: answer a multiple-choice question about "
            f"a biological protocol's reagents, amounts and steps. {_BIO_TAGS}, giving the "
            "chosen option exactly as written, for example [ANSWER_START]10 minutes[ANSWER_END]."
        ),
        eval_size=1000,
    ),
)


def get_benchmark(key: str) -> Benchmark:
    """Return the benchmark ``key`` (exact spelling); raise UnknownKeyError otherwise."""
    try:
        return BENCHMARKS[key]
    except KeyError:
        raise UnknownKeyError("benchmark", key, BENCHMARKS) from None


def get_dataset(key: str) -> RawDataset:
    """Return the raw dataset ``key`` (exact spelling); raise UnknownKeyError otherwise."""
    try:
        return DATASETS[key]
    except KeyError:
        raise UnknownKeyError("dataset", key, DATASETS) from None
