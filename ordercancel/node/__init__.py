"""The worker node: the Celery app and broker, queues, runtime, lease, intake and supervisor."""
