"""The one exception type for user mistakes (bad config, missing file, unknown name)."""


class UserError(Exception):
    """A mistake in the user's input: the CLI prints it as one line and exits with code 2."""
