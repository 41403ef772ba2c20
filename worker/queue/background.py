"""Long work a request starts but must not wait for: a queue message, or a thread when embedded.

With a broker, the row's id goes to a worker as an `imports.run` message
(sent after the request's transaction committed).  In the embedded mode
there is no worker process, so a thread of the web process runs the same
function.  The row is the work either way: its page shows its state.
"""

from __future__ import annotations

import threading

from worker.core.runtime import Runtime
from worker.queue.broker import enqueue
from worker.subscriptions.uploads import run_import


def start_import(runtime: Runtime, import_id: int) -> None:
    """Dry-run or apply admin import `import_id` away from the request."""
    if runtime.settings.is_embedded:
        thread = threading.Thread(
            target=run_import, args=(runtime, import_id), name=f"import-{import_id}", daemon=True
        )
        thread.start()
        return
    enqueue(runtime.settings, "imports.run", [import_id])
