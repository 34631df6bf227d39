"""The built-in data recipes, one per catalog dataset, and the function that runs them.

:func:`build_builtin` splits the sample size over the campaign's datasets, runs each dataset's
recipe on a seeded sample of its raw rows and returns the records with per-recipe counts.
Used by the search planner (always) and the LLM planner (when it chooses a built-in recipe, or
as the fallback when generated code keeps failing).
"""

from __future__ import annotations

from ftagent.errors import DataError
from ftagent.rawdata import RawDatasetFiles
from ftagent.recipes.base import Recipe, RecipeResult, RecipeRun
from ftagent.recipes.bioprobench import BioProBenchRecipe
from ftagent.recipes.chemcot import ChemCoTRecipe
from ftagent.recipes.deepscaler import DeepScaleRRecipe
from ftagent.recipes.financeiq import FinanceIqRecipe
from ftagent.recipes.panorama import PanoramaRecipe
from ftagent.recipes.tableinstruct import TableInstructRecipe
from ftagent.tokens import TokenCounter
from ftapi.catalog import Benchmark, RawDataset

RECIPES: dict[str, Recipe] = {
    recipe.dataset: recipe
    for recipe in (
        DeepScaleRRecipe(),
        PanoramaRecipe(),
        ChemCoTRecipe(),
        TableInstructRecipe(),
        FinanceIqRecipe(),
        BioProBenchRecipe(),
    )
}


def get_recipe(dataset: str) -> Recipe:
    try:
        return RECIPES[dataset]
    except KeyError:
        raise DataError(f"no built-in recipe for dataset {dataset!r}") from None


def split_sample(total: int, parts: int) -> list[int]:
    """``total`` records over ``parts`` datasets, as evenly as possible (earlier get more)."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def build_builtin(
    sources: list[tuple[RawDataset, RawDatasetFiles]],
    *,
    benchmark: Benchmark,
    sample_size: int,
    seed: int,
    tokens: TokenCounter,
    max_tokens: int,
    exclude: frozenset[str] = frozenset(),
) -> list[RecipeResult]:
    """Run each dataset's recipe for its share of ``sample_size``."""
    results = []
    for (dataset, files), share in zip(
        sources, split_sample(sample_size, len(sources)), strict=True
    ):
        if share <= 0:
            continue
        run = RecipeRun(
            benchmark=benchmark,
            limit=share,
            seed=seed,
            tokens=tokens,
            max_tokens=max_tokens,
            exclude=exclude,
        )
        results.append(get_recipe(dataset.key).build(files, run))
    return results


__all__ = ["RECIPES", "Recipe", "RecipeResult", "RecipeRun", "build_builtin", "get_recipe"]
