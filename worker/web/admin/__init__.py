"""The admin console under /admin: one module a page, all on one blueprint.

A new page module defines its routes on `worker.web.admin.blueprint.blueprint`
and is imported below, so that registering the blueprint brings it along.
"""

from worker.web.admin import audit, login, overview, suppressions
from worker.web.admin.blueprint import blueprint

PAGES = (login, overview, suppressions, audit)

__all__ = ["PAGES", "blueprint"]
