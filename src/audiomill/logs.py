"""Process-wide logging for `audiomill serve` and `audiomill worker`: plain text for people,
one JSON object per line for machines (``AUDIOMILL_LOG_FORMAT=json``).

Code logs through the standard :mod:`logging` module; structured fields travel as
``extra={...}`` (see :data:`STRUCTURED_FIELDS`) and become keys of the JSON object. Worker
processes forward their records to the service process, so one configuration covers them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from audiomill.config import Settings

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# ``extra`` keys copied into the JSON object when a record carries them.
STRUCTURED_FIELDS = (
    "event",
    "job_id",
    "kind",
    "seconds",
    "error",
    "stage",
    "progress",
    "attempt",
    "reason",
    "worker_pid",
    "exit",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the
    structured fields the record carries, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings, stream: TextIO | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send every record at ``level`` or above to ``stream`` (stderr) in the configured format.

    Replaces the root logger's handlers, so calling it twice does not print lines twice.
    Returns the handler (tests read what it wrote)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(settings.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def uvicorn_log_config() -> dict[str, Any]:
    """A ``log_config`` for ``uvicorn.run`` that routes uvicorn's own lines (start-up, access)
    through the root handler :func:`configure_logging` installed, so they share its format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "level": "INFO", "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
