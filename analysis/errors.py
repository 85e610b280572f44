"""The one root of user errors. A `UserError` is a mistake the user can fix (a bad file, value,
name or setting): the CLI prints its message on one line and the pages show it as text. Anything
else is a bug and keeps its traceback."""


class UserError(Exception):
    """A user's mistake, told in one line: what was wrong, where, and what was expected."""


class NotFound(UserError):
    """A named thing (workspace, run, scenario, model, GPU) that does not exist."""
