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

Facts come from ``benchmarks.md`` (FT-Dojo / RD-Agent's fine-tuning scenario), checked against
upstream code (docs/benchmarks/). Where each evaluation set lives and how its items and splits
are built is in :mod:`ftapi.evalsets`; the agent only ever sees validation scores.
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
    """A JSON object such as ``{"answer": "A"}`` (PANORAMA; NOC4PC: ``{"code": "102"}``)."""
    json_output = "json_output"
    """A JSON object with the keys the item names (ChemCoTBench: ``{"count": 2}``,
    ``{"Major Product": "SMILES"}``...), after the reasoning."""
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
    task: str | None = None
    """The benchmark's task within its family's repositories (PANORAMA's PAR4PC,
    ChemCoTBench's mol_und, TableBench's qtype, BioProBench's PQA): the built-in recipes train
    on the same task. The evaluation files themselves are named by ``ftapi.evalsets``."""
    answer_format: AnswerFormat
    """How the model must write its final answer."""
    metric: Metric
    """The core metric; several subsets are averaged."""
    metric_note: str
    """How the metric is computed, in a few words."""
    description: str
    """Default task description, stating the task and the expected output format."""
    shots: int = 0
    """In-context examples in front of every evaluation item (FinanceIQ: 5-shot)."""
    shots_answer: str = "Answer: {answer}"
    """How an in-context example's answer is written after it."""
    judge_allowed: bool = False
    """Upstream's scorer lets an LLM judge decide the items its rule marks wrong (aime25's
    CascadeEvaluator); elsewhere scoring is rule-based only."""


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
        metric_note=(
            "math-verify on the reply's final \\boxed{} (boxes joined by commas count as a set) "
            "against the gold, as the fork's MATHVerifyEvaluator"
        ),
        description=(
            "AIME 2024 math competition problems. Each answer is an integer from 0 to 999. "
            "Expected Output Format: put the final answer within \\boxed{}, "
            "for example \\boxed{42}."
        ),
    ),
    Benchmark(
        key="aime25",
        domain=Domain.math,
        datasets=("deepscaler",),
        eval_hf_id="opencompass/AIME2025",
        answer_format=AnswerFormat.boxed_integer,
        metric=Metric.accuracy,
        metric_note=(
            "math-verify as aime24; with evaluation.judge set, an LLM judge decides the items the"
            " rule marks wrong (the fork's CascadeEvaluator)"
        ),
        judge_allowed=True,
        description=(
            "AIME 2025 math competition problems. Each answer is an integer from 0 to 999. "
            "Expected Output Format: put the final answer within \\boxed{}, "
            "for example \\boxed{42}."
        ),
    ),
    Benchmark(
        key="panorama_par4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        task="PAR4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.macro_f1,
        metric_note=(
            "the fork's macro_f1: a micro F1 over TP/FP/FN summed over the split (silver answers "
            "count as false positives, as the fork runs); exact match and custom score also "
            "reported"
        ),
        description=(
            "PANORAMA PAR4PC patent prior-art retrieval: given a patent application (number, "
            "title, abstract and all its claims), the number of the claim to analyse and eight "
            "candidate patents A-H (patent ID, title, abstract, claims), decide, based only on "
            "this information, which candidate patent(s) the examiner cited to reject that claim."
            " Expected Output Format: respond with only a JSON object, no other text, with the "
            'letter or list of letters under the key "answer": {"answer": "A"}, or {"answer": '
            '["A", "C", "F"]} when several patents were cited.'
        ),
    ),
    Benchmark(
        key="panorama_pi4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        task="PI4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.gold_hit_rate,
        metric_note=("share of answers whose paragraph key is a gold key"),
        description=(
            "PANORAMA PI4PC patent paragraph identification: given a target claim of a patent "
            "application and a cited prior-art patent (its full specification and five candidate "
            "paragraphs, each under an integer key), choose the single paragraph that best "
            "supports rejecting the claim. Expected Output Format: respond with only a JSON "
            'object, no reasoning, with exactly one of the given integer keys under "answer", for'
            ' example {"answer": 17}.'
        ),
    ),
    Benchmark(
        key="panorama_noc4pc",
        domain=Domain.patent,
        datasets=("panorama",),
        eval_hf_id="LG-AI-Research/PANORAMA",
        task="NOC4PC",
        answer_format=AnswerFormat.json,
        metric=Metric.accuracy,
        metric_note=(
            "accuracy over the answers with an extractable code (ALLOW/102/103; others are left "
            "out, as in the fork); macro F1 over 102/103/ALLOW also reported"
        ),
        description=(
            "PANORAMA NOC4PC patent novelty and non-obviousness classification: acting as a U.S. "
            "patent examiner, given a target claim and the cited prior art (claims and cited "
            "paragraphs), decide whether the claim is allowable (ALLOW), rejected for lack of "
            "novelty under 35 U.S.C. 102 (anticipated by a single reference) or rejected as "
            "obvious under 35 U.S.C. 103. Expected Output Format: respond with only a JSON object"
            ' with the conclusion under the key "code": {"code": "ALLOW"}, {"code": "102"} or '
            '{"code": "103"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_und",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        task="mol_und",
        answer_format=AnswerFormat.json_output,
        metric=Metric.accuracy,
        metric_note=(
            "accuracy on SMILES equivalence (RD-Agent's core metric); counts MAE, Murcko Tanimoto"
            " and ring-system accuracy are secondary"
        ),
        description=(
            "ChemCoTBench molecule understanding: given molecules as SMILES, count functional "
            "groups or rings, extract Murcko or ring-system scaffolds, or decide whether two "
            "SMILES are the same molecule. Expected Output Format: reason, then end with the JSON"
            ' object the item asks for, with the keys it names, for example {"count": 2}, '
            '{"Output Scaffold": "SMILES"}, {"Final Target Molecule": "SMILES"}, {"Major '
            'Product": "SMILES"}, {"condition": "..."} or {"choice": "A"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_edit",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        task="mol_edit",
        answer_format=AnswerFormat.json_output,
        metric=Metric.correct_rate,
        metric_note=(
            "correct-edit rate (valid SMILES with the requested functional-group change), mean "
            "over add/delete/sub"
        ),
        description=(
            "ChemCoTBench molecule editing: add, delete or substitute the requested functional "
            "group in a molecule given as SMILES, keeping the molecule valid. Expected Output "
            "Format: reason, then end with the JSON object the item asks for, with the keys it "
            'names, for example {"count": 2}, {"Output Scaffold": "SMILES"}, {"Final Target '
            'Molecule": "SMILES"}, {"Major Product": "SMILES"}, {"condition": "..."} or '
            '{"choice": "A"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_mol_opt",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        task="mol_opt",
        answer_format=AnswerFormat.json_output,
        metric=Metric.success_rate,
        metric_note=(
            "success rate (the property improved over the source molecule), mean over the 6 "
            "properties; DRD2/JNK3/GSK3B by TDC's oracle models"
        ),
        description=(
            "ChemCoTBench molecule optimisation: modify a molecule given as SMILES to improve a "
            "physicochemical property (LogP, solubility, QED) or a protein-target activity (DRD2,"
            " JNK3, GSK3-beta). Expected Output Format: reason, then end with the JSON object the"
            ' item asks for, with the keys it names, for example {"count": 2}, {"Output '
            'Scaffold": "SMILES"}, {"Final Target Molecule": "SMILES"}, {"Major Product": '
            '"SMILES"}, {"condition": "..."} or {"choice": "A"}.'
        ),
    ),
    Benchmark(
        key="chemcotbench_reaction",
        domain=Domain.chemistry,
        datasets=("chemcot",),
        eval_hf_id="OpenMol/ChemCoTBench",
        task="reaction",
        answer_format=AnswerFormat.json_output,
        metric=Metric.exact_match,
        metric_note=(
            "exact match (InChI for molecules; rcr text; mechsel letter), mean over the 5 subtasks"
        ),
        description=(
            "ChemCoTBench chemical reactions: predict the major product (forward synthesis), the "
            "reactants (retrosynthesis), the reaction conditions, the next elementary step's "
            "product or the mechanism choice, with molecules as SMILES. Expected Output Format: "
            "reason, then end with the JSON object the item asks for, with the keys it names, for"
            ' example {"count": 2}, {"Output Scaffold": "SMILES"}, {"Final Target Molecule": '
            '"SMILES"}, {"Major Product": "SMILES"}, {"condition": "..."} or {"choice": "A"}.'
        ),
    ),
    Benchmark(
        key="tablebench_data_analysis",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        task="DataAnalysis",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note=(
            "mean of the fork's five dataset accuracies: within 10% "
            "(Correlation/Trend/Statistical), exact match (Impact), ROUGE-L (all rows)"
        ),
        description=(
            "TableBench data analysis: answer analysis questions (correlation, trend "
            "forecasting, impact, statistics, descriptive analysis) about a table given as "
            f"JSON. {_TABLE_FINAL}, for example Final Answer: Increasing trend."
        ),
    ),
    Benchmark(
        key="tablebench_fact_checking",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        task="FactChecking",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note=("exact match of the first Final Answer line (case and punctuation ignored)"),
        description=(
            "TableBench fact checking: check a statement or match facts against a table given "
            f"as JSON. {_TABLE_FINAL}, for example Final Answer: Yes."
        ),
    ),
    Benchmark(
        key="tablebench_numerical_reasoning",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        task="NumericalReasoning",
        answer_format=AnswerFormat.final_answer,
        metric=Metric.accuracy,
        metric_note=(
            "exact match of the first Final Answer line (case and punctuation ignored; no numeric"
            " tolerance)"
        ),
        description=(
            "TableBench numerical reasoning: compute aggregations, ratios, rankings and multi-hop"
            " arithmetic over a table given as JSON. Expected Output Format: reason step by step,"
            ' then end with a last line of the form "Final Answer: AnswerName1, AnswerName2...", '
            "with numbers written as the table writes them, without thousands separators, for "
            "example Final Answer: 42.5."
        ),
    ),
    Benchmark(
        key="tablebench_visualization",
        domain=Domain.table_qa,
        datasets=("tableinstruct",),
        eval_hf_id="Multilingual-Multimodal-NLP/TableBench",
        task="Visualization",
        answer_format=AnswerFormat.python_code,
        metric=Metric.pass_at_1,
        metric_note=(
            "pass@1: the y-values given to plt.bar/plt.plot/plt.scatter match y_references"
        ),
        description=(
            "TableBench visualization: write Python that draws the requested chart (line, bar, "
            "scatter) from a table. Expected Output Format: a single ```python code block that "
            "reads the table with pandas from 'table.csv', draws with matplotlib by calling "
            "plt.bar, plt.plot or plt.scatter directly with the y-values as the second argument, "
            "and ends with plt.show()."
        ),
    ),
    Benchmark(
        key="FinanceIQ_gen",
        domain=Domain.finance,
        datasets=("financeiq",),
        eval_hf_id="Duxiaoman-DI/FinanceIQ",
        shots=5,
        shots_answer="答案是: {answer}",
        answer_format=AnswerFormat.choice_letter,
        metric=Metric.accuracy,
        metric_note=(
            "5-shot (dev rows 0-4 of the item's subject); the last upper-case character of the "
            "reply must equal the gold letter (OpenCompass last_capital_postprocess + "
            "AccEvaluator); accuracy per subject, averaged over subjects"
        ),
        description=(
            "FinanceIQ: Chinese financial qualification exam questions across 10 subjects (CPA, "
            "banking, securities, funds, insurance, economist, tax, futures, financial planner, "
            "actuary). Each item names its subject and gives the question with options A-D; "
            "exactly one is correct. Expected Output Format: answer directly with the letter of "
            "the correct option and end your reply with it, for example 答案是: B."
        ),
    ),
    Benchmark(
        key="bioprobench_gen",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        task="GEN",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.rouge_l,
        metric_note=(
            "ROUGE-L F-measure (rouge-score, Porter stemming) against the reference steps joined "
            "by spaces, mean over tagged answers"
        ),
        description=(
            "BioProBench protocol generation: write the steps of a biological protocol for the "
            "stated goal, following the given role and formatting instruction. Expected Output "
            "Format: put the steps between [ANSWER_START] and [ANSWER_END], one step per line, "
            "for example [ANSWER_START]1. Thaw the cells.\n2. Centrifuge at 300 x g for 5 "
            "min.[ANSWER_END]."
        ),
    ),
    Benchmark(
        key="bioprobench_ord",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        task="ORD",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.kendall_tau,
        metric_note=(
            "Kendall tau pooled over all step pairs of the well-formed answers (the fork's "
            "BioProBenchORDEvaluator), x100; answers that are not a permutation of the indices "
            "are left out; exact match secondary"
        ),
        description=(
            "BioProBench step ordering: put the shown steps of a biological protocol section back"
            " in their correct order. Expected Output Format: [ANSWER_START] and [ANSWER_END] "
            "around a Python list of the steps' indices as shown (0-based), in the correct order,"
            " for example [ANSWER_START][2, 0, 3, 1][ANSWER_END]."
        ),
    ),
    Benchmark(
        key="bioprobench_err",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        task="ERR",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.f1,
        metric_note=(
            "F1 of flagging erroneous steps (False = positive class) over the parsed answers (the"
            " fork's BioProBenchERREvaluator); unparsed answers are left out"
        ),
        description=(
            "BioProBench error correction: decide whether a step of a biological protocol "
            f"contains an error (wrong reagent, amount, time or temperature). {_BIO_TAGS}, "
            "True if the step is correct and False if it has an error, for example "
            "[ANSWER_START]False[ANSWER_END]."
        ),
    ),
    Benchmark(
        key="bioprobench_pqa",
        domain=Domain.biology,
        datasets=("bioprobench",),
        eval_hf_id="bowenxian/BioProBench",
        task="PQA",
        answer_format=AnswerFormat.answer_tags,
        metric=Metric.accuracy,
        metric_note=(
            "accuracy: the option text before '&' equals the gold option exactly (the fork's "
            "BioProBenchPQAEvaluator); answers without tags or a confidence are left out; Brier "
            "score secondary"
        ),
        description=(
            "BioProBench protocol question answering: fill the blank of a biological protocol "
            "step by choosing one of the listed options. Expected Output Format: end with "
            "[ANSWER_START]<the chosen option, copied exactly> & <your confidence, "
            "0-100>%[ANSWER_END], for example [ANSWER_START]10 minutes & 85%[ANSWER_END]."
        ),
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
