"""Errors a user can act on: the CLI prints them as one line and exits with code 2."""


class Ge4recError(Exception):
    """Bad input (config, data set, command line): reported in one line, exit code 2."""


class ConfigError(Ge4recError):
    """A config value or override is invalid."""


class DataError(Ge4recError):
    """A data set source does not match what its config says."""


class TrainingFailed(RuntimeError):
    """Training started but could not finish (non-finite loss, out of memory)."""
