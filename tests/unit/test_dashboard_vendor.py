"""The charting library is unpacked only from the tarball whose hash the repository pins."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from backend.dashboard_vendor import LIGHTWEIGHT_CHARTS, IntegrityMismatch, VendorPackage, unpack

FILES = {"dist/chart.mjs": b"export const chart = 1;\n", "LICENSE": b"Apache License 2.0\n"}


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files.items():
            member = tarfile.TarInfo(f"package/{path}")
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def _pinned(tarball: bytes, files: tuple[str, ...] = tuple(FILES)) -> VendorPackage:
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    return VendorPackage("chart", "1.0.0", f"sha512-{digest}", files)


def test_a_tarball_matching_its_pinned_hash_is_unpacked(tmp_path: Path) -> None:
    tarball = _tarball(FILES)
    package = _pinned(tarball)

    unpack(package, tarball, tmp_path / "chart")

    assert package.installed(tmp_path / "chart")
    assert (tmp_path / "chart" / "dist/chart.mjs").read_bytes() == FILES["dist/chart.mjs"]


def test_a_tampered_tarball_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    package = _pinned(_tarball(FILES))
    tampered = _tarball(FILES | {"dist/chart.mjs": b"fetch('https://elsewhere.example');\n"})

    with pytest.raises(IntegrityMismatch, match="the project pins sha512-"):
        unpack(package, tampered, tmp_path / "chart")

    assert not (tmp_path / "chart").exists()


def test_a_file_missing_from_the_package_is_refused(tmp_path: Path) -> None:
    tarball = _tarball(FILES)
    package = _pinned(tarball, (*FILES, "NOTICE"))

    with pytest.raises(IntegrityMismatch, match="has no file NOTICE"):
        unpack(package, tarball, tmp_path / "chart")


def test_the_pinned_package_names_its_registry_tarball() -> None:
    assert LIGHTWEIGHT_CHARTS.tarball_url == (
        "https://registry.npmjs.org/lightweight-charts/-/lightweight-charts-5.3.0.tgz"
    )
    assert LIGHTWEIGHT_CHARTS.integrity.startswith("sha512-")
