"""Callbacks run when a job completes, inside the transaction that completes it.

Engines stay pure; what a finished job means elsewhere (a mixdown becomes a commit's
render, a generation becomes a commit) lives with the feature that cares, registered
here. A hook runs in a savepoint: if it fails, its changes roll back, the job still
completes, and the failure is recorded in the job's result under ``hook_errors``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from audiomill.errors import AudiomillError
from audiomill.runtime import Runtime
from audiomill.store.tables import Job

log = logging.getLogger(__name__)

CompletedHook = Callable[[Runtime, Session, Job], None]

_HOOKS: list[CompletedHook] = []
# Modules that register hooks on import; imported on first use so that every worker
# process (local or Celery) has them without the API importing anything extra.
BUILTIN_HOOK_MODULES = ("audiomill.vcs.hooks",)
_loaded = False


def on_completed(hook: CompletedHook) -> CompletedHook:
    """Register ``hook(runtime, session, job)``; usable as a decorator."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_HOOK_MODULES:
            importlib.import_module(module)


def run_completed(runtime: Runtime, session: Session, job: Job) -> None:
    """Run every hook for a job whose completion (outputs included) is in ``session``."""
    _load_builtin()
    for hook in _HOOKS:
        try:
            with session.begin_nested():
                hook(runtime, session, job)
        except Exception as exc:  # a hook's failure must not undo the job's completion
            name = getattr(hook, "__name__", hook)
            if isinstance(exc, AudiomillError):  # refused on purpose (no access, nothing to commit)
                log.warning("completion hook %s refused job %s: %s", name, job.uuid, exc.message)
            else:
                log.exception("completion hook %s failed for job %s", name, job.uuid)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            job.result = {**(job.result or {}), "hook_errors": [*(job.result or {}).get("hook_errors", []), message]}
            session.flush()
