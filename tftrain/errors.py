"""The ways a run ends other than completing: each becomes a message and an exit status."""


class TftrainError(Exception):
    """Bad input a user can fix: the message names the value and what would be valid.

    The CLI prints it as one paragraph and exits with status 2, no traceback.
    """

    exit_code = 2


class Diverged(Exception):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3

    def __init__(self, epoch: int, step: int, value: float) -> None:
        super().__init__(f"the training loss became {value} in epoch {epoch + 1} by step "
                         f"{step + 1}; stopped before it reached any checkpoint.")
        self.epoch, self.step = epoch, step


class Interrupted(Exception):
    """SIGINT (Ctrl-C) or SIGTERM arrived; the run stopped at a batch boundary."""

    def __init__(self, signal_number: int, epoch: int) -> None:
        super().__init__(f"interrupted by signal {signal_number} during epoch {epoch + 1}")
        self.exit_code = 128 + signal_number
        self.epoch = epoch


def user_error(error: BaseException | None) -> TftrainError | None:
    """The TftrainError behind an exception, if any: resolvers and Hydra's instantiate wrap
    the errors they meet in their own exceptions."""
    while error is not None and not isinstance(error, TftrainError):
        error = error.__cause__ or error.__context__
    return error
