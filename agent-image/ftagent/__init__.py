"""The agent worker: plans one experiment of a fine-tuning campaign and builds its data.

The operator runs ``python -m ftagent`` once per iteration (and again for each repair after a
failed smoke run). The pod reads its :class:`ftapi.steps.StepRequest`, the history of earlier
iterations from the workspace, proposes an experiment (the ``search`` or the ``llm``
planner), builds and validates the Alpaca training data, filters the LLaMA-Factory config and
writes ``plan.json`` plus the data files; its termination message is one
:class:`ftapi.results.StepResult`. See :mod:`ftagent.main` for the entry point.
"""
