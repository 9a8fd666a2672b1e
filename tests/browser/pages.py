"""What the browser tests do on every page: collect the page's script errors, log in on the
form the page shows first."""

from __future__ import annotations

from typing import Any


def collect_errors(page: Any, errors: list[str]) -> list[str]:
    """Append the page's uncaught exceptions and console errors to `errors` (a failed fetch
    that the page handles is logged by chromium as "Failed to load resource": not an error)."""
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    return errors


async def log_in(page: Any, user: str, password: str, base: str | None = None) -> None:
    """Fill the login form and send it (with `base`: open the page there first). The caller
    waits for what its role's first page draws."""
    if base is not None:
        await page.goto(base + "/qa/")
    await page.wait_for_selector("#username")
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.keyboard.press("Enter")
