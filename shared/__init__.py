"""The training core shared by ``amt`` and ``dnnsec``: trainer, data, losses, metrics, checkpoints.

``shared`` imports neither ``amt`` nor ``dnnsec``.
"""

__all__: list[str] = []
