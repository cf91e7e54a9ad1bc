"""Exception hierarchy: one base for the project, translated at library boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal


class SparkError(Exception):
    """Base of every error Prime Spark raises on purpose."""


class ConfigError(SparkError):
    """A config file or override is invalid. The message names file, key and fix."""


class TopicError(SparkError, ValueError):
    """A topic or topic segment is not valid for the requested use."""


class PayloadError(SparkError, ValueError):
    """An incoming payload is malformed, too large, or does not fit the target."""


class MqttError(SparkError):
    """The MQTT link failed (connect refused, not authorised, lost)."""


class BrokerError(SparkError):
    """The broker could not be prepared or started."""


class TemplateError(SparkError):
    """A template failed to compile or render (syntax, runtime error, sandbox or size limit)."""


class TemplateLimitError(TemplateError):
    """A render was cut short by a limit (its budget, or the process's share of template time),
    not by what the template says: callers that treat a failed render as a value (HA's template
    light uses the payload) must not treat this one so."""


class ServiceError(SparkError):
    """A service call that cannot be carried out; the message says why."""


class CodeError(ServiceError):
    """A call refused for its code (a lock's ``code_format``, an alarm panel's ``code``):
    ``reason`` says how: ``missing`` (none given), ``form`` (not of the entity's code format,
    not text, too long) or ``wrong`` (not the code). The message names the service and the
    entity, never the code; nothing was published."""

    def __init__(self, message: str, reason: Literal["missing", "form", "wrong"]) -> None:
        super().__init__(message)
        self.reason = reason


class ProcessError(SparkError):
    """An external program could not be run to its end (``core/procs.py``); ``reason`` says
    why: ``start`` (it could not be started: the ``OSError`` is the cause), ``timeout`` (it had
    not ended in its time) or ``output`` (it wrote more than its cap). In the last two it was
    killed, with everything it started, and reaped. ``argv`` is what was run."""

    def __init__(self, message: str, reason: Literal["start", "timeout", "output"],
                 argv: Sequence[str]) -> None:
        super().__init__(message)
        self.reason = reason
        self.argv = list(argv)
