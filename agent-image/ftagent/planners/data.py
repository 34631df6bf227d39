"""Training data from the built-in recipes for a proposal (both planners use it)."""

from __future__ import annotations

from ftagent.context import AgentContext
from ftagent.recipes import build_builtin
from ftagent.records import AlpacaRecord
from ftapi.plan import DataRecipe


def builtin_data(
    ctx: AgentContext, sample_size: int, seed: int, notes: str = ""
) -> tuple[list[AlpacaRecord], DataRecipe]:
    """Records for ``sample_size`` examples from the campaign's datasets, and the recipe."""
    sources = [(dataset, ctx.raw_files(dataset)) for dataset in ctx.datasets]
    results = build_builtin(
        sources,
        benchmark=ctx.benchmark,
        sample_size=sample_size,
        seed=seed,
        tokens=ctx.tokens,
        max_tokens=ctx.max_record_tokens,
        exclude=ctx.excluded,
    )
    records = [record for result in results for record in result.records]
    summary = "; ".join(result.summary() for result in results)
    recipe = DataRecipe(
        datasets=[dataset.key for dataset, _ in sources],
        builtin=",".join(result.recipe for result in results),
        sample_size=sample_size,
        seed=seed,
        notes=" ".join(part for part in (notes, summary) if part),
    )
    return records, recipe
