"""backoffice/recordings.py: the audio stream with HTTP ranges, and paths that never reach the
file system or are refused."""

from __future__ import annotations

import httpx

from tests.support.qa_env import QaTestEnv, login


async def test_recording_stream_and_ranges(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    rid = env.seeded.recordings["call1"]
    url = f"/api/recordings/{rid}/audio"
    full = await client.get(url, headers=h)
    assert full.status_code == 200
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.content[:4] == b"RIFF" and len(full.content) == 44 + 3 * 8000 * 2
    size = len(full.content)

    part = await client.get(url, headers={**h, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == full.content[100:200]

    tail = await client.get(url, headers={**h, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]

    open_end = await client.get(url, headers={**h, "Range": f"bytes={size - 5}-"})
    assert open_end.status_code == 206 and open_end.content == full.content[-5:]

    bad = await client.get(url, headers={**h, "Range": f"bytes={size + 10}-{size + 20}"})
    assert bad.status_code == 416

    head = await client.head(url, headers=h)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size


async def test_path_traversal_refused(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    # 1. a path in the request never reaches the file system: ids only
    for evil in ["..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "1%2F..%2F..%2Fqa.db"]:
        r = await client.get(f"/api/recordings/{evil}/audio", headers=h)
        assert r.status_code in (404, 422), (evil, r.status_code)
        assert b"root:" not in r.content
    # 2. a stored row pointing outside the directory is refused, not served
    r = await client.get(f"/api/recordings/{env.seeded.recordings['evil']}/audio", headers=h)
    assert r.status_code == 403 and r.json()["error_id"] == "recording_path_refused"
    # 3. a symlink planted inside the recordings directory that leads outside is refused
    from sqlalchemy import update

    from recordings.models import RecordingRow
    secret = env.settings.dir.parent / "secret.txt"
    secret.write_text("top secret")
    (env.settings.dir / "link.wav").symlink_to(secret)
    async with env.sm() as s, s.begin():
        await s.execute(update(RecordingRow).where(RecordingRow.id == env.seeded.recordings["evil"])
                        .values(path="link.wav"))
    r = await client.get(f"/api/recordings/{env.seeded.recordings['evil']}/audio", headers=h)
    assert r.status_code == 403 and b"top secret" not in r.content
    # 4. not recorded
    r = await client.get(f"/api/recordings/{env.seeded.recordings['call2_off']}/audio", headers=h)
    assert r.status_code == 404 and r.json()["error_id"] == "recording_not_recorded"
