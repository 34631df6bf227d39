"""fteval: the eval image's worker, OpenCompass runs scored with per-benchmark adapters.

The operator (or ``ftctl run``) starts ``python -m fteval`` for the ``baseline``, ``eval``
and ``final`` steps; :mod:`fteval.main` is the entrypoint and :mod:`fteval.adapters` holds
the answer extraction and core metric of every catalog benchmark. Importing this package is
cheap: OpenCompass loads only in :mod:`fteval.evaluator` (inside the OpenCompass run).
"""
