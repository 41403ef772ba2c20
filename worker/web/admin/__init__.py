"""The admin console under /admin: one module a page, all on one blueprint.

A new page module defines its routes on `worker.web.admin.blueprint.blueprint`
and is imported below, so that registering the blueprint brings it along.
"""

from worker.web.admin import (
    audit,
    deadletters,
    exports,
    imports,
    login,
    overview,
    subscribers,
    suppressions,
    visible,
)
from worker.web.admin.blueprint import blueprint

PAGES = (login, overview, subscribers, imports, exports, suppressions, deadletters, audit, visible)

__all__ = ["PAGES", "blueprint"]
