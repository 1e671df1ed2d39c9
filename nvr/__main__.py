"""Allow `python -m nvr`."""

from nvr.cli import main

raise SystemExit(main())
