"""`python -m core` runs the modelbridge command line."""

import sys

from core.cli import main

sys.exit(main())
