"""Errors of the training core; each message names the cause."""


class ConfigError(ValueError):
    """A configuration has a missing, unknown or invalid key."""


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, tampered or of another architecture."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""
