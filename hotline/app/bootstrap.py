"""What every `hotline` command does first: read the settings, prepare the database."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import structlog

from hotline.app.settings import Settings, SettingsError, load_settings
from hotline.yamlsrc import YamlFileError

log = structlog.get_logger("hotline.app.bootstrap")


def settings_or_exit(args: argparse.Namespace) -> Settings:
    """The settings named by `--config` (or the default file); a broken file: one message, exit 2."""
    try:
        return load_settings(args.config)
    except SettingsError as exc:
        print(f"hotline: settings file is not valid:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except YamlFileError as exc:
        print(f"hotline: cannot read settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def prepare_database(settings: Settings) -> None:
    """Migrate; in demo mode, then load the demo directory and lottery data into an empty
    database. Production never loads them (its settings may not even name the directory)."""
    from directory.file import load_directory_file
    from hotline.app.demo import seed_if_empty
    from hotline.db import migrate
    from hotline.db.base import make_engine, make_sessionmaker

    await migrate.upgrade(settings.database_url)
    if settings.mode != "demo" or settings.directory is None:
        return
    engine = make_engine(settings.database_url)
    directory = settings.resolve(settings.directory)  # relative: under the project root
    try:
        if await seed_if_empty(make_sessionmaker(engine), load_directory_file(directory),
                               datetime.now(UTC)):
            log.info("db.demo_loaded", directory=str(directory))
    finally:
        await engine.dispose()
