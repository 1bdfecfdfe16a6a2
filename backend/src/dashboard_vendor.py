"""Browser code from others: the dashboard's charting library, installed from its npm
registry package at a pinned version and checked against the integrity hash written
here before a byte of it is unpacked. Nothing of it is kept in the repository, and no
Node is needed: the package is a tarball fetched over HTTPS.

The files go under the Python installation (`<prefix>/share/botclub/vendor`), so the
project's virtual environment, or an image's Python, carries them; the API serves them
from there (`routes/dashboard.py`). `python -m backend.dashboard_vendor` installs what is
missing and does nothing when everything is in place (the project's set-up runs it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "LIGHTWEIGHT_CHARTS",
    "VENDOR_DIR",
    "IntegrityMismatch",
    "VendorPackage",
    "install",
    "unpack",
]

REGISTRY = "https://registry.npmjs.org"
VENDOR_DIR = Path(sys.prefix) / "share" / "botclub" / "vendor"
DOWNLOAD_TIMEOUT_S = 60.0


class IntegrityMismatch(RuntimeError):
    """The downloaded tarball is not the one whose hash the repository pins."""


@dataclass(frozen=True)
class VendorPackage:
    name: str
    version: str
    integrity: str  # the registry's `dist.integrity`: "sha512-<base64 digest>"
    files: tuple[str, ...]  # paths inside the package, as served

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"

    @property
    def folder(self) -> Path:
        return VENDOR_DIR / f"{self.name}-{self.version}"

    def installed(self, folder: Path | None = None) -> bool:
        root = folder or self.folder
        return all((root / path).is_file() for path in self.files)


LIGHTWEIGHT_CHARTS = VendorPackage(
    name="lightweight-charts",
    version="5.3.0",
    integrity="sha512-w16fu2/FteUkIJdgc9G2tOCKs1fwFSqnqF8+kMgHGv0uGIfcfpEJhziSaQbML1yrkbeg4nQXV3msjmhBzhLNhw==",
    files=("dist/lightweight-charts.standalone.production.mjs", "LICENSE", "README.md"),
)
PACKAGES = (LIGHTWEIGHT_CHARTS,)


def unpack(package: VendorPackage, tarball: bytes, folder: Path) -> None:
    """Check `tarball` against the package's pinned hash, then write its `files` into
    `folder`, replacing it whole (a half-written folder is never left in place)."""
    algorithm, _, expected = package.integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise IntegrityMismatch(
            f"{package.name} {package.version}: the registry's tarball hashes to "
            f"{algorithm}-{digest}, the project pins {package.integrity}"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=folder.parent) as staging,
        tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive,
    ):
        for path in package.files:
            try:
                member = archive.extractfile(f"package/{path}")
            except KeyError:
                member = None
            if member is None:
                raise IntegrityMismatch(f"{package.name} {package.version} has no file {path}")
            target = Path(staging, "files", path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
        shutil.rmtree(folder, ignore_errors=True)
        Path(staging, "files").rename(folder)


def install(package: VendorPackage) -> bool:
    """Download and unpack `package` unless it is in place; whether it was downloaded."""
    if package.installed():
        return False
    response = httpx.get(package.tarball_url, timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True)
    response.raise_for_status()
    unpack(package, response.content, package.folder)
    return True


def main() -> None:
    for package in PACKAGES:
        if install(package):
            print(f"installed {package.name} {package.version} into {package.folder}")


if __name__ == "__main__":
    main()
