"""`python -m lab` is the same as the `chatlab` command."""

import sys

from lab.cli import main

sys.exit(main())
