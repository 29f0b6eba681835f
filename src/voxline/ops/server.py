"""The HTTP server of ``voxline serve``: uvicorn's, marking the runtime as draining first.

uvicorn handles SIGTERM and SIGINT itself; this server's handler begins draining the
runtime (``GET /readyz`` answers 503 from then on) before uvicorn starts shutting down, so
readiness fails as soon as shutdown begins rather than once the lifespan ends.
"""

from __future__ import annotations

from types import FrameType

import uvicorn

from voxline.runtime import Runtime

__all__ = ["DrainingServer"]


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.runtime.begin_draining()
        super().handle_exit(sig, frame)
