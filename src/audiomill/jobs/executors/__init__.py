"""Executors hand job ids to workers; they never touch job state themselves.

local   spawned worker processes beside the service (the default; no other services)
celery  `audiomill worker` processes anywhere, fed through Redis or RabbitMQ
"""

from __future__ import annotations

from audiomill.runtime import Executor, Runtime


def make_executor(runtime: Runtime) -> Executor:
    if runtime.settings.executor == "celery":
        from audiomill.jobs.executors.celery_executor import CeleryExecutor

        return CeleryExecutor(runtime.settings)
    from audiomill.jobs.executors.local import LocalExecutor

    return LocalExecutor(runtime, runtime.settings.worker_concurrency)
