"""The one check every page makes at phone width: nothing scrolls sideways."""

from __future__ import annotations

from playwright.sync_api import Page


def fits_a_phone(page: Page) -> bool:
    """True when the page is no wider than the window.

    Call it after waiting for something on the page itself: right after a click
    that navigates, the old document may be gone and the new one not yet there.
    """
    page.wait_for_load_state()
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
