"""The one exception type for bad input.

The command line turns an :class:`InputError` into one message on stderr and exit status 2;
its text names the offending file and says how to fix it.
"""


class InputError(Exception):
    """Bad input (a file, a folder, an option): the message names it and the fix."""
