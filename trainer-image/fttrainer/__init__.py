"""fttrainer: the trainer image's worker, LLaMA-Factory smoke and full runs of a plan.

The operator (or ``ftctl run``) starts ``python -m fttrainer`` for the ``smoke`` and
``train`` steps; :mod:`fttrainer.main` is the entrypoint. :mod:`fttrainer.tiny_model` builds
the tiny Qwen2 model used by the tests and ``ftctl demo``. Importing this package is cheap:
LLaMA-Factory, torch and transformers load only where a function needs them.
"""
