"""A static file server for the benches: ``python -m http.server`` that sends ``NAME.gz`` files
as they are with ``Content-Encoding: gzip`` (as nginx's ``gzip_static`` does), so a client
receives the same bytes a server's gzipped answer carries and inflates them alike.

    python -m bench.static_server --directory DIR --port PORT
"""
from __future__ import annotations

import argparse
import functools
import http.server


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def end_headers(self) -> None:
        if self.path.endswith(".gz"):
            self.send_header("Content-Encoding", "gzip")
        super().end_headers()

    def guess_type(self, path) -> str:
        return "text/xml" if str(path).endswith((".xml", ".xml.gz")) else super().guess_type(path)

    def log_message(self, *args) -> None:  # quiet: the bench times it
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    handler = functools.partial(Handler, directory=args.directory)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
