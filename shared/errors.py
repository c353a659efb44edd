"""The project's error root and the training core's errors; each message names the file or setting and the cause.

Every error this project raises on bad input or state derives from :class:`DomainError`, through one base per
package (:class:`amt.errors.AmtError`, :class:`dnnsec.errors.DnnsecError`; the training core's errors derive from
the root directly). The command lines print the message of any of them and exit with :data:`EXIT_ERROR`
(:mod:`shared.cli`); anything else is a bug and keeps its traceback.
"""

#: Exit status of a command line: success.
EXIT_OK = 0
#: Exit status of a command that ran but reports a negative answer (e.g. a suspect model is not ours).
EXIT_NEGATIVE = 1
#: Exit status of a command refused for bad input or state (click's own usage errors use it too).
EXIT_ERROR = 2


class DomainError(Exception):
    """Root of every error raised on bad input or state (a file, a setting, a key, a model)."""


class ConfigError(DomainError):
    """A configuration has a missing, unknown or invalid key."""


class CheckpointError(DomainError):
    """A checkpoint is missing, corrupt, tampered or of another architecture."""


class TrainingError(DomainError):
    """Training cannot go on (e.g. the loss became NaN)."""
