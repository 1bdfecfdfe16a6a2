"""A member's sign-in for the commands that use the API: the server's address and an
API token, in a file only its owner can read (`botclub login` writes it).

BOTCLUB_SERVER and BOTCLUB_TOKEN, when set, take precedence over the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

__all__ = ["DEFAULT_SERVER", "MemberConfig", "config_file", "load_config", "save_config"]

DEFAULT_SERVER = "http://127.0.0.1:8000"


class MemberConfig(BaseModel):
    server: str = DEFAULT_SERVER
    token: str | None = None


def config_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "botclub" / "config.json"


def load_config() -> MemberConfig:
    try:
        config = MemberConfig.model_validate_json(config_file().read_text())
    except (OSError, ValueError):
        config = MemberConfig()
    server = os.environ.get("BOTCLUB_SERVER") or config.server
    token = os.environ.get("BOTCLUB_TOKEN") or config.token
    return MemberConfig(server=server.rstrip("/"), token=token)


def save_config(config: MemberConfig) -> Path:
    """Written with owner-only permissions from the first byte (the token is a secret)."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(config.model_dump_json(indent=2))
    path.chmod(0o600)  # an older file may have had wider permissions
    return path
