"""The user message a model is asked with, shared by training data and evaluation.

The evaluator (``fteval.prompts.build_prompt``) asks every item as the benchmark's task
description, a blank line, then the item; the agent prefixes its training instructions the
same way (``ftagent.validation.check_records``), so a fine-tuned model is trained on the text
it is evaluated with.
"""

from __future__ import annotations


def task_prompt(description: str, body: str) -> str:
    """``description``, a blank line, then ``body`` (unchanged when it already starts with
    the description, e.g. data a generated script built with it)."""
    description, body = description.strip(), body.strip()
    if not description or body.startswith(description):
        return body
    if not body:
        return description
    return f"{description}\n\n{body}"
