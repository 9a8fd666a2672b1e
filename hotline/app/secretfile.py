"""Secrets the demo generates under var/: created once, atomically, readable by the owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class EmptySecretFile(Exception):
    """The secret's file exists but holds nothing (written by hand, or cut short)."""


def read_or_create(path: Path, nbytes: int = 24) -> str:
    """The secret in `path`; made first (random, URL-safe) if there is none.

    The file appears whole with mode 0600 or not at all: it is written under a temporary name
    created 0600 and linked into place, so a reader never sees it empty or with wider
    permissions, and two processes starting at once agree on one secret (the second link
    fails and that process reads the first one's).
    """
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        pass
    else:
        if not value:
            raise EmptySecretFile(f"{path} is empty: delete it and a new secret is made")
        return value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(secrets.token_urlsafe(nbytes))
    try:
        os.link(tmp, path)  # never replaces a file: the first one made is the secret
    except FileExistsError:
        pass  # someone else made it between our read and our link: theirs is the secret
    finally:
        tmp.unlink()
    return path.read_text().strip()
