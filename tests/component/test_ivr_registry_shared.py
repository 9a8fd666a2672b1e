"""Nodes of a cluster share one dialplan (docs/cluster.md): each node's registry follows the
version active in the shared store. Two registries on one real database stand for two nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hotline.db.base import make_engine, make_sessionmaker
from hotline.paths import PROJECT_ROOT
from ivr.registry import DialplanRegistry
from ivr.store import DialplanVersionStore
from tests.support.databases import DbBackend

DEMO = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()


def _named(name: str) -> str:
    return DEMO.replace("\nname: lottery-hotline\n", f"\nname: {name}\n")


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_version_activated_on_one_node_becomes_active_on_the_other(
        tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.migrated(tmp_path) as url:
        engine = make_engine(url)
        store = DialplanVersionStore(make_sessionmaker(engine))
        file = tmp_path / "hotline.yaml"
        file.write_text(DEMO)
        node1 = DialplanRegistry(file, store, poll_interval=0.05, follow_store=True)
        node2 = DialplanRegistry(file, store, poll_interval=0.05, follow_store=True)
        seen: list[str] = []

        async def told(dp) -> None:  # type: ignore[no-untyped-def]
            seen.append(dp.version_id)

        node2.on_activated = told
        try:
            await node1.start()  # no active version yet: the file, stored and marked active
            await node2.start()  # the store's active version (the same file)
            assert node2.active.version_id == node1.active.version_id
            uploaded = await node1.upload(_named("from-node-1"), by="admin")
            await _until(lambda: node2.ready and node2.active.version_id == uploaded.version_id)
            assert node2.active_version is not None and node2.active_version.id == uploaded.id
            assert seen[-1] == uploaded.version_id  # the node applies it (the pool queue)
            # a rollback on node 2 reaches node 1 the same way
            back = await node2.rollback()
            await _until(lambda: node1.active.version_id == back.version_id)
            # a node (re)started now serves the store's version, not its file
            node3 = DialplanRegistry(file, store, poll_interval=0.05, follow_store=True)
            await node2.activate(uploaded.id)
            await node3.start()
            try:
                assert node3.active.version_id == uploaded.version_id
                assert (await store.active()).id == uploaded.id  # node 3 changed nothing
            finally:
                await node3.stop()
        finally:
            await node1.stop()
            await node2.stop()
            await engine.dispose()


async def test_one_box_ignores_what_the_store_says(tmp_path: Path, db_backend: DbBackend) -> None:
    """Without follow_store (one box) the file and the API decide, as before."""
    async with db_backend.migrated(tmp_path) as url:
        engine = make_engine(url)
        store = DialplanVersionStore(make_sessionmaker(engine))
        file = tmp_path / "hotline.yaml"
        file.write_text(DEMO)
        single = DialplanRegistry(file, store, poll_interval=0.05)
        other = DialplanRegistry(file, store, poll_interval=0.05)
        try:
            await single.start()
            await other.start()
            await other.upload(_named("elsewhere"))
            await asyncio.sleep(0.3)
            assert single.active.name == "lottery-hotline"
        finally:
            await single.stop()
            await other.stop()
            await engine.dispose()
