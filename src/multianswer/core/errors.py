"""The one exception type for user mistakes (bad config, missing file, unknown name)."""


class UserError(Exception):
    """A mistake in the user's input: the CLI prints it as one line and exits with code 2."""


class UnknownNameError(UserError, KeyError):
    """A name (verifier, task, ...) that is not registered; a KeyError too, for dict-like callers."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
