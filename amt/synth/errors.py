"""The error raised for bad synthesis input (a bad earth SPEC, a negative duration, an unknown option)."""

from __future__ import annotations

from amt.record import RecordError


class SynthError(RecordError):
    """A synthesis request is invalid; the message names the parameter and the problem."""
