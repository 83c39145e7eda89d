"""``python -m crmss``: the same command line as the ``crmss`` console script."""

from .cli import console

console()
