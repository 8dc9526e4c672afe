"""The Celery app, and what keeps its workers alive through broker outages (issue 12)."""

import logging
import os
from pathlib import Path

import kombu.transport
import redis.exceptions
from celery import Celery, bootsteps
from kombu.transport import filesystem as kombu_filesystem
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

log = logging.getLogger(__name__)

app = Celery("faultline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- filesystem broker: a removed queue folder is recreated, not fatal -------------------
# kombu lists the folder on every poll; a missing one raised FileNotFoundError, which the
# worker treats as "Unrecoverable error" and exits (and `make run` stopped with it).


class FilesystemChannel(kombu_filesystem.Channel):
    def _folders(self) -> None:
        for folder in (self.data_folder_in, self.data_folder_out, self.processed_folder,
                       self.control_folder):
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)

    def _get(self, queue):
        self._folders()
        return super()._get(queue)

    def _put(self, queue, payload, **kwargs):
        self._folders()
        return super()._put(queue, payload, **kwargs)

    def _size(self, queue):
        self._folders()
        return super()._size(queue)

    def _purge(self, queue):
        self._folders()
        return super()._purge(queue)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        # kombu creates the control folder without its parents (var/broker may not exist).
        self._folders()
        return super()._queue_bind(exchange, routing_key, pattern, queue)


class FilesystemTransport(kombu_filesystem.Transport):
    Channel = FilesystemChannel


kombu.transport.TRANSPORT_ALIASES["filesystem"] = "config.celery_app:FilesystemTransport"


# --- redis broker: the reconnect crash -------------------------------------------------
# When the broker drops, the consumer restarts its steps and closes their channels; a
# channel whose transport connection was already released builds its pool from
# `connection.client`, now None, and the AttributeError ("'NoneType' object has no attribute
# 'hostname'") is not a connection error, so the worker exits (kombu #582, issue 12: 5 of 17
# outages). Raised as the connection error it is, kombu ignores it on close and retries.
_connparams = kombu_redis.Channel._connparams


def _connparams_or_connection_error(self, asynchronous=False):
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("broker connection already closed")
    return _connparams(self, asynchronous=asynchronous)


kombu_redis.Channel._connparams = _connparams_or_connection_error


# --- digestion resumes when the broker comes back ----------------------------------------


class DigestWakeUp(bootsteps.StartStopStep):
    """Queue a digest sweep each time the worker (re)connects to its broker.

    Messages published while the broker was down, or lost with it, are gone; without this
    the entries waited for the next commit or the beat sweep (323-326 s after a broker
    outage, issue 12). The consumer restarts its steps on every reconnect, so `start` runs
    once per connection.
    """

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, c) -> None:
        try:
            app.send_task("resilience.tasks.digest_sweep", retry=False, expires=60)
        except Exception:  # noqa: BLE001 - the beat sweep still covers it
            log.warning("could not queue a digest sweep after connecting to the broker")


app.steps["consumer"].add(DigestWakeUp)
