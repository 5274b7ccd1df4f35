"""Celery workers: FCM and APNs delivery, the DLR recorder and the webhook sender.

``celery -A workers worker -Q apns.tx,apns.bulk`` finds the app here.
"""

from workers.celery_app import create_app

app = create_app()
celery = app

__all__ = ["app", "celery"]
