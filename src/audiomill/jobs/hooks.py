"""Callbacks run when a job completes, inside the transaction that completes it; and
callbacks run for every status change, just before the transaction that records it commits.

Engines stay pure; what a finished job means elsewhere (a mixdown becomes a commit's
render, a generation becomes a commit) lives with the feature that cares, registered
here. A hook runs in a savepoint: if it fails, its changes roll back, the job still
completes, and the failure is recorded in the job's result under ``hook_errors``.

Transition hooks (``on_transition``) hear every change the state machine makes (and a
job's creation), once the transaction holding it is about to commit: they see the job as
that commit leaves it (a completed job with its outputs) and what they write commits with
the change or not at all (webhook deliveries: a change is never recorded without them).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from audiomill.errors import AudiomillError
from audiomill.runtime import Runtime
from audiomill.store.tables import Job

log = logging.getLogger(__name__)

CompletedHook = Callable[[Runtime, Session, Job], None]

_HOOKS: list[CompletedHook] = []
# Modules that register hooks on import; imported on first use so that every worker
# process (local or Celery) has them without the API importing anything extra.
BUILTIN_HOOK_MODULES = ("audiomill.vcs.hooks", "audiomill.jobs.webhooks.enqueue")
_loaded = False


@dataclass(frozen=True)
class Transition:
    """A status change the state machine made (``created``: the job's row was written)."""

    job_id: int
    job_uuid: str
    owner_id: int
    kind: str
    status: str  # the new status
    created: bool = False  # the row was just written (pending); False for a requeue to pending


TransitionHook = Callable[[Session, Sequence[Transition]], None]
_TRANSITION_HOOKS: list[TransitionHook] = []
_TRANSITIONS_KEY = "audiomill.hooks.transitions"


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


def on_transition(hook: TransitionHook) -> TransitionHook:
    """Register ``hook(session, transitions)``, run before each commit that holds any."""
    if hook not in _TRANSITION_HOOKS:
        _TRANSITION_HOOKS.append(hook)
    return hook


def transitioned(session: Session, transition: Transition) -> None:
    """Called by the state machine for each change it makes in ``session``."""
    pending: list[Transition] | None = session.info.get(_TRANSITIONS_KEY)
    if pending is None:
        pending = session.info[_TRANSITIONS_KEY] = []
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_soft_rollback", _forget)
    pending.append(transition)


def _forget(session: Session, _previous_transaction: object) -> None:
    if not session.in_transaction():  # the outermost transaction rolled back: its changes are gone
        session.info[_TRANSITIONS_KEY] = []


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint (a completion hook's) commits: the outer commit comes later
    transitions = list(session.info.get(_TRANSITIONS_KEY) or ())
    if not transitions:
        return
    session.info[_TRANSITIONS_KEY] = []
    _load_builtin()
    for hook in _TRANSITION_HOOKS:
        try:
            with session.begin_nested():
                hook(session, transitions)
        except Exception:  # a hook's failure must not undo the change itself
            log.exception("transition hook %s failed", getattr(hook, "__name__", hook))
