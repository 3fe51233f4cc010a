"""`python -m core.cli` runs the modelbridge command line, as `python -m core` does."""

import sys

from core.cli import main

sys.exit(main())
