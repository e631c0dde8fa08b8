"""The one exception a user sees as a message rather than a traceback."""


class TftrainError(Exception):
    """Bad input a user can fix: the message names the value and what would be valid.

    The CLI prints it as one paragraph and exits with status 2, no traceback.
    """
