"""Errors a user can act on: the CLI prints them as one line and exits with code 2."""

import argparse
from typing import Any, NoReturn


class Ge4recError(Exception):
    """Bad input (config, data set, command line): reported in one line, exit code 2."""


class ConfigError(Ge4recError):
    """A config value or override is invalid."""


class DataError(Ge4recError):
    """A data set source does not match what its config says."""


class TrainingFailed(RuntimeError):
    """Training started but could not finish (non-finite loss, out of memory)."""


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM stopped a run (Ctrl-C, a cluster's pre-emption). A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way swallows it. `epoch`: the last
    finished epoch (whose state the run folder keeps), None when training had not started."""

    def __init__(self, signum: int, epoch: int | None = None):
        super().__init__(signum, epoch)
        self.signum, self.epoch = int(signum), epoch

    @property
    def signal_name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def progress(self) -> str:
        """How far the run got: 'after epoch N', 'during epoch 1' or 'before training started'."""
        if self.epoch is None:
            return "before training started"
        return f"after epoch {self.epoch}" if self.epoch else "during epoch 1"

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process a signal ended: 130 for SIGINT,
        143 for SIGTERM."""
        return 128 + self.signum


class CommandParser(argparse.ArgumentParser):
    """argparse for a ge4rec subcommand: bad arguments are a Ge4recError naming the subcommand
    (one line, exit code 2) instead of argparse's usage text and exit code."""

    def __init__(self, *args: Any, hint: str | None = None, **keywords: Any) -> None:
        super().__init__(*args, **keywords)
        self.hint = hint  # appended to the message, e.g. "see `ge4rec table --help`"

    def error(self, message: str) -> NoReturn:
        where = f" ({self.hint})" if self.hint else ""
        raise Ge4recError(f"{self.prog.removeprefix('ge4rec ')}: {message}{where}")
