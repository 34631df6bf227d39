"""Optional LLM judge for math answers (aime25's fallback when math-verify says "different").

Used only when the campaign's planner configures an LLM (``spec.planner.type: llm``): the
first weak model (else the first strong model) at ``planner.llm.apiBase``, through litellm.
The API key, if the endpoint needs one, comes from the ``FT_LLM_API_KEY`` environment
variable of the evaluation pod (the operator does not pass the agent's secret there today).
A judge that cannot be reached yields ``None`` and the math-verify verdict stands; the
evaluator counts those failures in its results.

Called by :class:`fteval.adapters.BoxedIntegerAdapter`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ftapi.campaign import FineTuneCampaignSpec, PlannerType

API_KEY_ENV = "FT_LLM_API_KEY"

JUDGE_PROMPT = """You grade a math competition answer.
Problem:
{question}

Reference answer: {expected}

Student's response (its final answer is what counts):
{predicted}

Is the student's final answer mathematically equivalent to the reference answer?
Reply with exactly one word: CORRECT or INCORRECT."""


@dataclass(frozen=True)
class JudgeConfig:
    """Which model grades, and where."""

    model: str
    """litellm model name, e.g. ``openai/qwen2.5-7b-instruct``."""
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 60.0


def judge_from_spec(spec: FineTuneCampaignSpec) -> JudgeConfig | None:
    """The judge a campaign configures, or None (search planner, or no models)."""
    llm = spec.planner.llm
    if spec.planner.type is not PlannerType.LLM or llm is None:
        return None
    models = llm.weak_models or llm.strong_models
    if not models:
        return None
    return JudgeConfig(model=models[0], api_base=llm.api_base, api_key=os.environ.get(API_KEY_ENV))


def parse_verdict(text: str) -> bool | None:
    """CORRECT -> True, INCORRECT -> False, anything else -> None."""
    words = re.findall(r"[A-Z]+", (text or "").upper())
    if "INCORRECT" in words:
        return False
    if "CORRECT" in words:
        return True
    return None


def llm_judge_equivalent(
    question: str, predicted: str, expected: str, config: JudgeConfig
) -> bool | None:
    """Ask the judge whether ``predicted``'s final answer equals ``expected``.

    Returns None when the judge could not be asked or gave no verdict.
    """
    import litellm

    prompt = JUDGE_PROMPT.format(question=question, expected=expected, predicted=predicted[-4000:])
    try:
        response = litellm.completion(
            model=config.model,
            api_base=config.api_base,
            api_key=config.api_key,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=8,
            timeout=config.timeout,
            num_retries=1,
        )
    except Exception:  # any transport or provider error: no verdict
        return None
    content = response.choices[0].message.content  # type: ignore[union-attr]
    return parse_verdict(content or "")
