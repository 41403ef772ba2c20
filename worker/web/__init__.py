"""The web stage: the WSGI app `worker.web:app` and its pages, one blueprint a module."""

from worker.web.app import app, create_app

__all__ = ["app", "create_app"]
