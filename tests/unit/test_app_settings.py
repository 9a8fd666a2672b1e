"""Settings: one clear message naming file, line and key; environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.app.cli import main
from hotline.app.settings import Settings, SettingsError, load_settings
from hotline.pbx.asterisk import AsteriskError, AsteriskInstance


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hotline.yaml"
    p.write_text(text)
    return p


def test_defaults_without_file(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "missing.yaml")
    assert s.service.host == "127.0.0.1" and s.asterisk.sip_port == 5060
    assert s.asterisk.ami_secret is None  # no default secret


def test_shipped_settings_file_is_valid() -> None:
    s = load_settings(Path(__file__).parents[2] / "config" / "hotline.yaml")
    assert s.mode == "demo"


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "service:\n  host: 127.0.0.1\n  http_port: eighty\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    assert len(e.value.problems) == 1
    msg = str(e.value)
    assert f"{p}:3:14:" in msg and "service -> http_port" in msg and "integer" in msg


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    p = write(tmp_path, "asterisk:\n  sip_port: 5060\n  sip_prot: 5061\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    assert str(e.value) == f"{p}:3:3: unknown key 'sip_prot' (at asterisk -> sip_prot)"


def test_every_problem_is_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "mode: staging\nservice:\n  agi_port: 0\nbogus: 1\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    lines = {pr.position.line for pr in e.value.problems}
    assert lines == {1, 3, 4}


def test_yaml_syntax_error(tmp_path: Path) -> None:
    p = write(tmp_path, "service:\n  host: [127.0.0.1\n")
    with pytest.raises(SettingsError.__mro__[1]) as e:  # YamlFileError
        load_settings(p)
    assert "YAML syntax error" in str(e.value) and str(p) in str(e.value)


def test_secret_is_never_echoed(tmp_path: Path) -> None:
    p = write(tmp_path, "asterisk:\n  ami_secret: short\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    assert "short" not in str(e.value) and ":2:" in str(e.value)


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "service:\n  http_port: 8080\n")
    monkeypatch.setenv("HOTLINE_SERVICE__HTTP_PORT", "9090")
    assert load_settings(p).service.http_port == 9090
    monkeypatch.setenv("HOTLINE_SERVICE__HTTP_PORT", "x")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    assert str(e.value).startswith("environment HOTLINE_SERVICE__HTTP_PORT:")


def test_cli_exits_with_one_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "log:\n  level: loud\n")
    with pytest.raises(SystemExit) as e:
        main(["--config", str(p), "settings"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{p}:2:10:" in err and "log -> level" in err


def test_missing_asterisk_root_is_one_clear_message(tmp_path: Path) -> None:
    s = Settings(asterisk={"root": tmp_path / "nowhere", "cache": tmp_path / "none.tar.zst"})
    with pytest.raises(AsteriskError) as e:
        AsteriskInstance(s).start()
    msg = str(e.value)
    assert "no Asterisk root at" in msg and "make run" in msg


def test_production_requires_a_secret(tmp_path: Path) -> None:
    from hotline.app.service import SettingsProblem, ami_secret

    with pytest.raises(SettingsProblem, match="no default secret"):
        ami_secret(Settings(mode="production", var_dir=tmp_path))
    demo = ami_secret(Settings(mode="demo", var_dir=tmp_path))
    assert len(demo) >= 24 and (tmp_path / "ami-secret").stat().st_mode & 0o077 == 0
    assert ami_secret(Settings(mode="demo", var_dir=tmp_path)) == demo  # stable
    (tmp_path / "ami-secret").write_text("")  # cut short, or emptied by hand
    with pytest.raises(SettingsProblem, match="ami-secret is empty: delete it"):
        ami_secret(Settings(mode="demo", var_dir=tmp_path))


def test_production_requires_an_agi_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hotline.app.service import SettingsProblem, agi_secret, ami_secret

    with pytest.raises(SettingsProblem, match="no default FastAGI secret"):
        agi_secret(Settings(mode="production", var_dir=tmp_path))
    monkeypatch.setenv("HOTLINE_SERVICE__AGI_SECRET", "production-agi-key-0123456789")
    assert agi_secret(Settings(mode="production", var_dir=tmp_path)) == "production-agi-key-0123456789"
    monkeypatch.delenv("HOTLINE_SERVICE__AGI_SECRET")
    demo = agi_secret(Settings(mode="demo", var_dir=tmp_path))
    assert len(demo) >= 24 and (tmp_path / "agi-secret").stat().st_mode & 0o077 == 0
    assert agi_secret(Settings(mode="demo", var_dir=tmp_path)) == demo  # stable
    assert demo != ami_secret(Settings(mode="demo", var_dir=tmp_path))  # a secret of its own


@pytest.mark.parametrize("bad", ["short-key", "has space in the key 0123", "semi;colon-0123456789"])
def test_agi_secret_rules_and_the_secret_is_never_echoed(tmp_path: Path, bad: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, f"service:\n  agi_secret: '{bad}'\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    assert bad not in str(e.value) and ":2:" in str(e.value) and "FastAGI secret" in str(e.value)
    good = "a-good-agi-key-0123456789"
    main(["--config", str(write(tmp_path, f"service:\n  agi_secret: {good}\n")), "settings"])
    out = capsys.readouterr().out
    assert '"agi_port"' in out and good not in out and "agi_secret" not in out


# --- production never takes the demo data ---------------------------------------------------


def test_production_refuses_the_demo_directory_and_the_test_caller(tmp_path: Path) -> None:
    """The shipped settings with mode switched to production: both demo-only keys refused,
    each named with its line."""
    shipped = (Path(__file__).parents[2] / "config" / "hotline.yaml").read_text()
    p = write(tmp_path, shipped.replace("\nmode: demo\n", "\nmode: production\n", 1))
    assert "mode: production" in p.read_text()
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    by_key = {" -> ".join(map(str, pr.path)): pr for pr in e.value.problems}
    assert set(by_key) == {"directory", "asterisk"}, str(e.value)
    assert "demo mode only" in by_key["directory"].message
    assert "test caller" in by_key["asterisk"].message
    lines = shipped.splitlines()
    assert lines[by_key["directory"].position.line - 1].startswith("directory:")


def test_production_refusal_through_the_environment(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_MODE", "production")
    monkeypatch.setenv("HOTLINE_ASTERISK__TEST_CALLER", "true")
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path / "missing.yaml")
    assert "test caller" in str(e.value) and "demo mode only" in str(e.value)


def test_the_test_caller_is_on_in_demo_and_off_in_production(tmp_path: Path) -> None:
    assert Settings(mode="demo", var_dir=tmp_path).asterisk.test_caller is True
    prod = Settings(mode="production", var_dir=tmp_path)
    assert prod.asterisk.test_caller is False
    ctx = AsteriskInstance(prod)._context([], "production-ami-secret", "production-agi-key-0123456789")
    assert ctx["test_caller"] is False
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from hotline.pbx.asterisk import TEMPLATES

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined)
    assert "[test-caller]" not in env.get_template("pjsip.conf.j2").render(**ctx)
    demo = AsteriskInstance(Settings(mode="demo", var_dir=tmp_path))._context(
        [], "demo-ami-secret-x", "demo-agi-key-0123456789")
    assert "[test-caller]" in env.get_template("pjsip.conf.j2").render(**demo)


def test_token_secret_is_a_demo_secret_file_like_the_others(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """0600 from the first byte (even with an open umask), atomic, stable, and a leftover
    empty file is one clear settings error, not an empty signing key."""
    import os
    import stat
    import threading

    from hotline.app.service import SettingsProblem, ami_secret, token_secret

    with pytest.raises(SettingsProblem, match="token_secret is not set"):
        token_secret(Settings(mode="production", var_dir=tmp_path))
    monkeypatch.setenv("HOTLINE_RECORDINGS__AUTH__TOKEN_SECRET", "p" * 40)
    assert token_secret(Settings(mode="production", var_dir=tmp_path)) == "p" * 40
    monkeypatch.delenv("HOTLINE_RECORDINGS__AUTH__TOKEN_SECRET")

    demo = Settings(mode="demo", var_dir=tmp_path / "var")
    results: list[str] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        results.append(token_secret(demo))

    old = os.umask(0)
    try:
        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.umask(old)
    path = tmp_path / "var" / "qa-token-secret"
    assert len(set(results)) == 1 and results[0] == path.read_text() and len(results[0]) >= 60
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["qa-token-secret"]  # no temporary
    assert token_secret(demo) == results[0] != ami_secret(demo)
    path.write_text("")  # what a touch-then-write start cut short left behind
    with pytest.raises(SettingsProblem, match="qa-token-secret is empty: delete it"):
        token_secret(demo)
