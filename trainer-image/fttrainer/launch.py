"""``python -m fttrainer.launch train <config.yaml>``: LLaMA-Factory's CLI, argument check first.

Runs in the training child process that :mod:`fttrainer.main` starts. It converts the YAML's
values to the types LLaMA-Factory declares (:func:`fttrainer.preflight.coerce_arguments`,
which needs LLaMA-Factory's argument classes: importing them here, in the process that
imports LLaMA-Factory anyway, costs nothing extra), rewrites the YAML, then hands over to
``llamafactory.cli.main`` exactly as the ``llamafactory-cli`` console script does (torchrun
included when ``FORCE_TORCHRUN`` is set). A value of the wrong type ends the process with
:data:`CONFIG_ERROR_EXIT` and one :data:`CONFIG_ERROR_PREFIX` line naming the arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from fttrainer.preflight import ArgumentError, coerce_arguments

CONFIG_ERROR_EXIT = 78
"""``EX_CONFIG`` of sysexits.h."""
CONFIG_ERROR_PREFIX = "fttrainer-config-error: "


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "train":
        print("usage: python -m fttrainer.launch train <config.yaml>", file=sys.stderr)
        return 2
    path = Path(args[1])
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        config = coerce_arguments(config)
    except ArgumentError as exc:
        print(CONFIG_ERROR_PREFIX + str(exc), flush=True)
        return CONFIG_ERROR_EXIT
    path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")

    from llamafactory.cli import main as llamafactory_main

    sys.argv = ["llamafactory-cli", *args]
    llamafactory_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
