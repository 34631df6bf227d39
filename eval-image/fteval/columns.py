"""Column names of the per-split JSONL that fteval writes and OpenCompass reads.

Shared by :mod:`fteval.main` (writes the rows), :mod:`fteval.occonfig` (names the input and
output columns) and :mod:`fteval.evaluator` (reads them back); kept apart so that importing
them does not import OpenCompass. The ``ft_`` prefix keeps them clear of OpenCompass' own
placeholders.
"""

from __future__ import annotations

PROMPT_COLUMN = "ft_prompt"
"""The whole user message (description, question, options)."""
ANSWER_COLUMN = "ft_answer"
"""The gold answer."""
INDEX_COLUMN = "ft_index"
"""The item's position in the benchmark's evaluation set."""
QUESTION_COLUMN = "ft_question"
EXTRA_COLUMN = "ft_extra"
"""The item's extra fields as a JSON string (rows of a dataset must share one schema)."""
