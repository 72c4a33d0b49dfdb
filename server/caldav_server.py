"""Radicale's threaded HTTP server, in a background thread, serving our application.

``radicale.server.serve`` builds stock ``Application`` itself and owns its
loop, so we reuse its server and handler classes with ``serve_forever``.
"""
from __future__ import annotations

import select
import socket
import threading

from radicale import server as radicale_server

from server.caldav_app import PlanerixApplication
from server import settings
from server.scheduling import email_delivery
from storage_plugin import email_outbox, scheduling


class _HTTPServer(radicale_server.ParallelHTTPServer):

    def service_actions(self) -> None:
        # Radicale's own loop closes the sockets of finished workers; do the same.
        if not self.worker_sockets:
            return
        finished, _, _ = select.select(list(self.worker_sockets), [], [], 0)
        for sock in finished:
            sock.close()
            self.worker_sockets.discard(sock)


class CalDAVServer:

    def __init__(self, configuration, host: str, port: int) -> None:
        configuration = configuration.copy()
        configuration.update({"server": {"_internal_server": "True"}}, "planerix", privileged=True)
        family = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][0]
        self.application = PlanerixApplication(configuration)
        self._httpd = _HTTPServer(configuration, family, (host, port), radicale_server.RequestHandler)
        self._httpd.set_app(self.application)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="caldav", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()
        if self.application.scheduling_enabled:
            configuration = self.application.configuration
            self._scheduling_worker = scheduling.Worker(
                self.application._storage, settings.scheduling_option(configuration, "worker_interval_seconds"))
            self._scheduling_worker.start()
            if email_outbox.settings_of(self.application._storage).configured:
                self._email_worker = email_delivery.EmailWorker(
                    self.application._storage, settings.scheduling_option(configuration, "worker_interval_seconds"))
                self._email_worker.start()

    def stop(self) -> None:
        for worker in (getattr(self, "_scheduling_worker", None), getattr(self, "_email_worker", None)):
            if worker is not None:
                worker.stop()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
