"""The HTTP server both local services use."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any

#: How often ``serve_forever`` looks for ``shutdown()``: the default 0.5 s made stopping a
#: receiver or an emulator cost half a second, in every test that uses one.
POLL_INTERVAL = 0.02


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client hangs up."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        super().handle_error(request, client_address)
