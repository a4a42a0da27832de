"""The simulator's exceptions."""

from __future__ import annotations

__all__ = ["SimulatorError", "ProtocolError", "DeliveryError", "InvalidSubscription", "GiveUp"]


class SimulatorError(Exception):
    """Base class of the simulator's own errors."""


class ProtocolError(SimulatorError):
    """The collector answered something a Windows client would not accept (wrong RelatesTo,
    not an Ack, unparsable XML, ...)."""


class DeliveryError(SimulatorError):
    """A request got an unexpected HTTP status. ``status`` holds it."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InvalidSubscription(SimulatorError):
    """The Subscribe envelope is something Windows would refuse (see validate_subscription)."""


class GiveUp(SimulatorError):
    """Raised when max_retries or the deadline is exhausted. ``result`` carries the counters."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
