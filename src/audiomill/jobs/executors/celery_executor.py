"""The Celery executor: job ids travel through a Redis or RabbitMQ broker to
`audiomill worker` processes on any number of machines.

The database row stays the single source of truth; a task carries only the job id.
Late acks + reject-on-worker-lost + prefetch 1 mean a task is acknowledged only once its
job has ended, so a worker that dies takes no job with it: the broker redelivers it, and
independently of the broker the reaper re-queues any job whose attempt went silent.
"""

from __future__ import annotations

import logging

from celery import Celery

from audiomill.config import Settings
from audiomill.errors import InvalidInput

log = logging.getLogger(__name__)

TASK_NAME = "audiomill.run_job"


def make_celery_app(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise InvalidInput("AUDIOMILL_EXECUTOR=celery needs AUDIOMILL_BROKER_URL (redis://… or amqp://…)")
    app = Celery("audiomill", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.default_queue,
        task_ignore_result=True,  # results live in the database
        task_serializer="json",
        accept_content=["json"],
        # Redis only: an unacknowledged task comes back after this; longer than any job.
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout_seconds},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


class CeleryExecutor:
    """API side: sends job ids to the queue of their kind."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app = make_celery_app(settings)

    def start(self) -> None:
        pass  # workers recover jobs themselves (reaper); nothing runs in this process

    def submit(self, job_id: int, kind: str) -> None:
        self._app.send_task(TASK_NAME, args=[job_id], queue=self._settings.queue_for(kind))

    def stop(self) -> None:
        self._app.close()
