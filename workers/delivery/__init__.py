"""The push path: a Celery task in, an outcome out (app, admission, task, guard, retry, report)."""
