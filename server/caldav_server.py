"""Radicale's threaded HTTP server, in a background thread, serving our application.

``radicale.server.serve`` builds stock ``Application`` itself and owns its
loop, so we reuse its server and handler classes with ``serve_forever``.

The server either binds its own socket or serves a listening socket it was handed (a worker
of ``planerix serve --workers``, sharing the socket with its siblings). It counts the requests
in flight, so that a stop can close the socket first and let them finish (graceful drain).
Connections stay open for a client's next request (server.keep_alive).
"""
from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

from radicale import server as radicale_server

from server.caldav_app import PlanerixApplication
from server.keep_alive import KeepAliveRequestHandler
from server import settings
from server.mail_replies.poller import MailboxPoller
from server.mail_replies.settings import MailboxSettings
from server.scheduling import email_delivery
from storage_plugin import email_outbox, scheduling


class _HTTPServer(radicale_server.ParallelHTTPServer):

    def __init__(self, configuration, family: int, address, handler,
                 listening: socket.socket | None = None) -> None:
        self._listening = listening
        self.stopping = False  # no connection is kept open once set
        self._in_flight = 0
        self._idle = threading.Condition()
        super().__init__(configuration, family, address, handler)

    def server_bind(self) -> None:
        if self._listening is None:
            super().server_bind()
            return
        # A socket shared with other processes: whichever is free accepts a connection, the
        # others find nothing to accept (a non-blocking accept, ignored by socketserver).
        self.socket.close()
        self.socket = self._listening
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]
        self.setup_environ()

    def server_activate(self) -> None:
        if self._listening is None:
            super().server_activate()

    def service_actions(self) -> None:
        # Radicale's own loop closes the sockets of finished workers; do the same.
        if not self.worker_sockets:
            return
        finished, _, _ = select.select(list(self.worker_sockets), [], [], 0)
        for sock in finished:
            sock.close()
            self.worker_sockets.discard(sock)

    def process_request(self, request, client_address_and_socket) -> None:
        # Counted here, in the accepting thread, so a stop that follows sees it.
        with self._idle:
            self._in_flight += 1
        try:
            super().process_request(request, client_address_and_socket)
        except BaseException:
            self._finished()
            raise

    def _finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    @contextlib.contextmanager
    def waiting_for_request(self):
        """A kept-open connection between two requests: not in flight (a draining stop need
        not wait for an idle client), counted again once its next request has arrived."""
        self._finished()
        try:
            yield
        finally:
            with self._idle:
                self._in_flight += 1

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._finished()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight (at most ``timeout`` seconds); True if none is."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


class CalDAVServer:

    def __init__(self, configuration, host: str, port: int, listening: socket.socket | None = None) -> None:
        configuration = configuration.copy()
        configuration.update({"server": {"_internal_server": "True"}}, "planerix", privileged=True)
        family = listening.family if listening is not None else \
            socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][0]
        self.application = PlanerixApplication(configuration)
        self._httpd = _HTTPServer(configuration, family, (host, port), KeepAliveRequestHandler, listening)
        self._httpd.set_app(self.application)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="caldav", daemon=True)
        self._stopped_accepting = None

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
            mailbox = MailboxSettings.from_configuration(configuration)
            if mailbox.configured:  # answers by mail, applied through the scheduling delivery
                self._mailbox_poller = MailboxPoller(self.application._storage, mailbox)
                self._mailbox_poller.start()

    def stop_accepting(self) -> None:
        """Close the listening socket: no new connection; requests in flight go on."""
        if self._stopped_accepting is None:
            self._stopped_accepting = time.monotonic()
            self._httpd.stopping = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    def stop(self, drain_seconds: float = 5.0) -> bool:
        """Stop accepting, let the requests in flight finish (within ``drain_seconds`` of the
        moment accepting stopped), stop the background work; True if none was left unfinished."""
        self.stop_accepting()
        drained = self._httpd.wait_idle(drain_seconds - (time.monotonic() - self._stopped_accepting))
        for worker in (getattr(self, "_scheduling_worker", None), getattr(self, "_email_worker", None),
                       getattr(self, "_mailbox_poller", None)):
            if worker is not None:
                worker.stop()
        return drained
