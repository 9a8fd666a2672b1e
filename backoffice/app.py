"""The back office (QA/admin web app) as routers for the service's app (hotline.app.http).

One module per resource, each with its routes, schemas and queries: `sessions` (log in, log
out, me), `calls`, `recordings` (audio stream), `reviews`, `stats`, `live` (wallboard,
screen-pop), `queueboard` (the queue's wallboard figures, abandoned calls), `directory` (teams, operators, known callers), `users`; `web` serves the page.
Who may call what is `backoffice.access`, applied by the app to every route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice import (
    calls,
    directory,
    live,
    queueboard,
    recordings,
    reviews,
    sessions,
    stats,
    users,
)
from backoffice.auth import Authenticator
from backoffice.common import Deps, PresenceProvider, WaitingProvider
from backoffice.web import build_web_router
from recordings.settings import RecordingSettings


def backoffice_routers(
    sm: async_sessionmaker[AsyncSession],
    settings: RecordingSettings,
    auth: Authenticator,
    presence: PresenceProvider,
    directory_changed: Callable[[], Awaitable[None]],
    waiting: WaitingProvider = list,
) -> list[APIRouter]:
    """Every router of the back office, in the order of the API documentation.

    `settings.dir` must be absolute (`resolved`); `presence` gives {extension: presence} now;
    `directory_changed` is awaited after each committed change to teams, operators or backups;
    `waiting` gives the callers waiting in the pool queues now.
    """
    deps = Deps(sm, settings, auth, presence, directory_changed, waiting)
    return [module.build_router(deps) for module in
            (sessions, calls, recordings, reviews, stats, live, queueboard, directory, users)] + [build_web_router()]
