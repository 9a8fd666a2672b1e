"""A root made from an older package list is not ready: root_ready reads dpkg's status."""

from __future__ import annotations

from pathlib import Path

from hotline.pbx.asterisk import ASTERISK_BIN, DEBOOTSTRAP_PACKAGES, missing_packages, root_ready


def make_root(tmp: Path, installed: list[str], half: list[str] = ()) -> Path:  # type: ignore[assignment]
    (tmp / ASTERISK_BIN.lstrip("/")).parent.mkdir(parents=True)
    (tmp / ASTERISK_BIN.lstrip("/")).write_text("")
    status = tmp / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    entries = [f"Package: {p}\nStatus: install ok installed\nVersion: 1\n" for p in installed]
    entries += [f"Package: {p}\nStatus: deinstall ok config-files\n" for p in half]
    status.write_text("\n".join(entries))
    return tmp


def test_every_package_installed_is_ready(tmp_path: Path):
    root = make_root(tmp_path, DEBOOTSTRAP_PACKAGES.split(",") + ["libc6"])
    assert missing_packages(root) == [] and root_ready(root)


def test_a_missing_or_removed_package_makes_it_not_ready(tmp_path: Path):
    pkgs = DEBOOTSTRAP_PACKAGES.split(",")
    root = make_root(tmp_path, pkgs[:-1], half=pkgs[-1:])
    assert missing_packages(root) == pkgs[-1:] and not root_ready(root)
    assert "asterisk-moh-opsound-wav" in pkgs


def test_no_dpkg_status_means_everything_is_missing(tmp_path: Path):
    assert missing_packages(tmp_path) == DEBOOTSTRAP_PACKAGES.split(",")
    assert not root_ready(tmp_path)
