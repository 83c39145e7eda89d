"""``python -m crmss``: the same command line as the ``crmss`` console script."""

import sys

from .cli import main

sys.exit(main())
