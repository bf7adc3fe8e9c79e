"""Allow `python -m leadmail`."""

from leadmail.cli import main

if __name__ == "__main__":  # reader processes (leadmail.sandbox) import this module too
    raise SystemExit(main())
