"""Allow `python -m leadmail`."""

from leadmail.cli import main

raise SystemExit(main())
