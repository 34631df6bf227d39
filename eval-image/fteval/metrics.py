"""Core metrics and answer comparisons shared by the benchmark adapters.

Text normalisation, number parsing with a relative tolerance, math answer equivalence
(math-verify after a cheap normalisation), ROUGE-L, Kendall tau
(scipy), set and binary F1, and macro F1 over classes. Called by :mod:`fteval.adapters`.
"""

from __future__ import annotations

import math
import re
import string
import threading
from collections.abc import Hashable, Iterable, Sequence
from functools import lru_cache

_PUNCT = str.maketrans("", "", string.punctuation + "，。：；！？、（）【】")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return " ".join(str(text).lower().translate(_PUNCT).split())


def parse_number(text: str) -> float | None:
    """A number written as text (``1,234``, ``$5``, ``12.5%``, ``-3``), or None."""
    cleaned = str(text).strip().replace("$", "").replace("%", "").replace("\u2212", "-")
    cleaned = cleaned.strip().rstrip(".")
    if not re.fullmatch(_NUMBER.pattern, cleaned):
        return None
    try:
        value = float(cleaned.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numbers_in(text: str) -> list[float]:
    """Every number in ``text``, in order."""
    values = []
    for token in _NUMBER.findall(str(text)):
        number = parse_number(token)
        if number is not None:
            values.append(number)
    return values


def within_tolerance(predicted: float, expected: float, relative: float = 0.1) -> bool:
    """True when ``predicted`` is within ``relative`` (10%) of ``expected``."""
    if expected == 0:
        return abs(predicted) <= 1e-9
    return abs(predicted - expected) <= abs(expected) * relative


# ----------------------------------------------------------------------------- math

_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")


def normalize_math(answer: str) -> str:
    """Cheap normalisation of a short math answer: no spaces, ``$``, ``\\text{}`` wrappers,
    thousands separators, degree signs or leading zeros of an integer."""
    text = str(answer).strip()
    for _ in range(3):
        text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = text.replace("$", "").replace("\\!", "").replace("\\,", "").replace("\\ ", "")
    text = text.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "")
    text = re.sub(r"\s+", "", text).rstrip(".")
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", text):
        text = text.replace(",", "")
    if re.fullmatch(r"[-+]?\d+(\.0+)?", text):
        text = str(int(float(text)))
    return text


MATH_VERIFY_TIMEOUT = 5
"""Seconds math-verify may spend on one answer (signal based: main thread only)."""
MAX_MATH_ANSWER = 300
"""Longer "answers" are not parsed: sympy can hang on adversarial expressions."""


@lru_cache(maxsize=4096)
def _math_verify_equal(predicted: str, expected: str) -> bool:
    from math_verify import parse, verify

    if len(predicted) > MAX_MATH_ANSWER:
        return False
    # math-verify's timeouts use SIGALRM, which only the main thread can receive.
    timeout = MATH_VERIFY_TIMEOUT if threading.current_thread() is threading.main_thread() else None
    gold = parse(f"${expected}$", parsing_timeout=timeout)
    pred = parse(f"${predicted}$", parsing_timeout=timeout)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=timeout))


def math_equal(predicted: str, expected: str) -> bool:
    """Answer equivalence for math: normalised text first, then math-verify."""
    left, right = normalize_math(predicted), normalize_math(expected)
    if not left or not right:
        return False
    if left == right:
        return True
    if re.fullmatch(r"[-+]?\d+", left) and re.fullmatch(r"[-+]?\d+", right):
        return int(left) == int(right)
    return _math_verify_equal(left, right)


# ----------------------------------------------------------------------------- text overlap


def _tokens(text: str) -> list[str]:
    """rouge-score's default tokens (lower-case ASCII letters and digits, no stemming); for
    text with CJK characters, which that tokenizer drops, one token per character."""
    if any("\u4e00" <= char <= "\u9fff" for char in text):
        return [char for char in text if not char.isspace() and char not in string.punctuation]
    return re.findall(r"[a-z0-9]+", text.lower())


def _lcs(left: Sequence[str], right: Sequence[str]) -> int:
    previous = [0] * (len(right) + 1)
    for token in left:
        current = [0]
        for j, other in enumerate(right, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def rouge_l(predicted: str, reference: str) -> float:
    """ROUGE-L F-measure (0-1): longest common subsequence of tokens, as ``rouge-score``
    computes it (that package imports NLTK, seconds of start-up for a 15-line formula)."""
    pred, ref = _tokens(predicted), _tokens(reference)
    if not pred or not ref:
        return 0.0
    common = _lcs(pred, ref)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


# ----------------------------------------------------------------------------- ranking


def kendall_tau(predicted_order: Sequence[Hashable], gold_order: Sequence[Hashable]) -> float:
    """Kendall tau (-1..1) between two orderings of the same items (scipy's tau-b)."""
    if sorted(map(str, predicted_order)) != sorted(map(str, gold_order)):
        raise ValueError("the orderings do not hold the same items")
    if len(gold_order) < 2:
        return 1.0
    from scipy.stats import kendalltau

    position = {item: rank for rank, item in enumerate(predicted_order)}
    predicted_ranks = [position[item] for item in gold_order]
    statistic = kendalltau(list(range(len(gold_order))), predicted_ranks).statistic
    return float(statistic)


# ----------------------------------------------------------------------------- F1


def set_f1(predicted: Iterable[Hashable], gold: Iterable[Hashable]) -> float:
    """F1 (0-1) of a predicted set against a gold set."""
    pred, ref = set(predicted), set(gold)
    if not pred and not ref:
        return 1.0
    hits = len(pred & ref)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(pred), hits / len(ref)
    return 2 * precision * recall / (precision + recall)


def binary_f1(pairs: Iterable[tuple[Hashable, Hashable]], positive: Hashable) -> float:
    """F1 (0-1) of the ``positive`` class over (predicted, gold) label pairs."""
    tp = fp = fn = 0
    for predicted, gold in pairs:
        if predicted == positive and gold == positive:
            tp += 1
        elif predicted == positive:
            fp += 1
        elif gold == positive:
            fn += 1
    if tp == 0:
        return 0.0
    return 2 * tp / (2 * tp + fp + fn)


def macro_f1(pairs: Sequence[tuple[Hashable, Hashable]], classes: Iterable[Hashable]) -> float:
    """Mean over ``classes`` of the one-vs-rest F1 (0-1); classes absent from gold and
    predictions are left out."""
    scores = []
    for label in classes:
        if any(label in pair for pair in pairs):
            scores.append(binary_f1(pairs, label))
    return sum(scores) / len(scores) if scores else 0.0
