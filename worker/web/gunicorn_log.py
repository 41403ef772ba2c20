"""gunicorn's error and access logs in our JSON lines (`trialalerts web` names this class).

The access line carries the method, the path without its query string (a
query may hold anything) and with link tokens cut, the status, the size and
the time taken; no client address.  The app's own loggers write the same
lines to stderr.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from worker.core.logs import JsonLines, configure


class JsonLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure("web", self.loglevel)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonLines("web"))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log.handlers:
            return  # no access log asked for
        status = str(resp.status).split(None, 1)[0]
        path = environ.get("PATH_INFO") or "/"
        fields = {
            "method": req.method,
            "path": path,
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
        }
        self.access_log.info("%s %s %s", req.method, path, status, extra=fields)
