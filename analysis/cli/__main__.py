"""`python -m analysis.cli ...`: the same as `breakeven ...`."""

import sys

from analysis.cli import main

sys.exit(main())
