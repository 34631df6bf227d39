"""``python -m ftagent``: the agent pod's entry point (see :mod:`ftagent.main`)."""

from ftagent.main import main

raise SystemExit(main())
