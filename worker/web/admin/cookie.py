"""The console's session cookie: signed with the service's keys, for /admin only.

Flask keeps a session in a signed cookie; this interface signs it with
TRIALALERTS_SECRET_KEY (newest key signs, every listed key verifies, as for
links) under its own salt, and only on the console's paths: public pages get
no session at all.  HttpOnly, SameSite=Lax, Secure when the base URL is https.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from worker.core.config import ConfigError
from worker.web.support import current_runtime

ADMIN_PREFIX = "/admin"
COOKIE_NAME = "trialalerts_admin"
SESSION_LIFETIME = timedelta(hours=12)


def in_console() -> bool:
    return request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/")


class AdminSessionInterface(SecureCookieSessionInterface):
    salt = "trialalerts-admin-session"

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """None (no session) outside the console, or while the keys cannot be read.

        In the second case the console's own handler then meets the same
        configuration error and answers 503 naming it.
        """
        if not in_console():
            return None
        try:
            keys = current_runtime().settings.secret_keys
        except ConfigError:
            return None
        if not keys:
            return None
        return URLSafeTimedSerializer(
            list(reversed(keys)),  # itsdangerous signs with the last, verifies with all
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE_NAME

    def get_cookie_path(self, app: Flask) -> str:
        return request.script_root + ADMIN_PREFIX

    def get_cookie_domain(self, app: Flask) -> str | None:
        return None  # this host only

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"

    def get_cookie_secure(self, app: Flask) -> bool:
        return current_runtime().settings.base_url.startswith("https://")
