"""The one error type the CLI turns into a single line on stderr and a non-zero exit."""


class CliError(Exception):
    """A failure the user can act on; its message is the whole explanation."""

    exit_code = 1
