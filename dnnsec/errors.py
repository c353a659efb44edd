"""The base of every error :mod:`dnnsec` raises on bad input or state."""

from shared.errors import DomainError


class DnnsecError(DomainError):
    """Bad or unusable input or state for model protection: a package, a key, a registry, a data set, a model.

    Subclasses say where the problem lies (:class:`dnnsec.package.container.PackageError`,
    :class:`dnnsec.protect.key.KeyFileError`, ...); the message names the file and the problem.
    """


class ModelError(DnnsecError):
    """A model or checkpoint does not fit what the step needs (outputs, layers, data set)."""
