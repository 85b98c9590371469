"""The one exception a demo run raises on purpose: its message is all the user needs to read."""


class DemoError(Exception):
    """Something the user can act on (a port taken, a child process that died): no traceback."""
