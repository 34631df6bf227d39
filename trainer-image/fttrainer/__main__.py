"""``python -m fttrainer``: the trainer image's entrypoint (see :mod:`fttrainer.main`)."""

from fttrainer.main import main

raise SystemExit(main())
