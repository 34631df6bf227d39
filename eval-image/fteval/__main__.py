"""``python -m fteval``: the eval image's entrypoint (see :mod:`fteval.main`)."""

from fteval.main import main

raise SystemExit(main())
