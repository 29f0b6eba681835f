"""The TLS settings of Voxline's outbound HTTPS clients."""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_context() -> ssl.SSLContext:
    """One verifying client context per process, shared by every outbound client.

    Loading the system's CA bundle costs ~35 ms of CPU and about a megabyte per context;
    a context per client (what an ``httpx.AsyncClient`` makes by default) paid that once for
    each carrier, tool and webhook client. An ``SSLContext`` is safe to share between clients
    and threads."""
    return ssl.create_default_context()
