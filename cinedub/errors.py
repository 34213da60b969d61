"""The one error type users see: its message is printed as a single line, with no traceback."""


class CinedubError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class SessionBusy(CinedubError):
    """Another process holds the session."""

    exit_code = 3
