"""Request checks and response headers that keep the token pages safe.

The pages are reached by secret links, so the links must not leak (no
Referer, no caching, no framing) and a form must come from our own page:
preferences forms carry a token derived from the page's own token, and
cross-site posts are refused by their Origin / Sec-Fetch-Site headers.
Every secret comparison is constant-time.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

from flask import Request, Response

from worker.core.tokens import canonical, form_signer

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-store")
    return response


def _form_value(form: str, page_token: str) -> str:
    return f"{form}\x00{page_token}"


def form_token(keys: Sequence[str], form: str, page_token: str) -> str:
    """The anti-forgery value of `form` on the page reached with `page_token`.

    A signature of the form's name and the page token by the token module's
    form signer (newest key), so it is good for that form on that page only.
    """
    signature = form_signer(keys).get_signature(_form_value(form, page_token))
    return signature.decode("ascii")


def form_token_ok(keys: Sequence[str], form: str, page_token: str, given: str | None) -> bool:
    """Checked against every key, so a key rotation does not break open pages.

    Only the spelling `form_token` makes passes (see `worker.core.tokens`).
    """
    if not given or not canonical(given):
        return False
    return form_signer(keys).verify_signature(_form_value(form, page_token), given)


def bearer_token_ok(authorization: str | None, expected: str) -> bool:
    """`Authorization: Bearer <token>` equals `expected`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, base_url: str) -> bool:
    """False for a post another site made the browser send; true when unsure (old clients).

    Sec-Fetch-Site, which pages cannot set, decides when present. Otherwise
    the Origin header must be ours; with our no-referrer policy browsers may
    send `Origin: null`, and a request with neither (curl, old browsers) is
    let through too: the form token still has to match.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    return origin.lower() in (_origin(request.host_url), _origin(base_url))


def client_address(request: Request, trusted_proxies: int) -> str:
    """The client's IP: the peer, or the address the n-th trusted proxy saw."""
    if trusted_proxies > 0:
        forwarded = [
            part.strip()
            for part in request.headers.get("X-Forwarded-For", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= trusted_proxies:
            return forwarded[-trusted_proxies]
    return request.remote_addr or "unknown"
