"""Settings: where workspaces live, which endpoints exist, and API keys (read, never stored).

Values come from explicit arguments, then `BREAKEVEN_*` environment variables, then a `.env` file.
API keys also accept their standard names (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analysis.errors import UserError

WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_base_url(value: str) -> str:
    """`value` without a trailing '/', or ValueError when it is no http(s) URL or carries
    credentials or a query string (keys come from the environment; the message never repeats
    the URL, which may hold a secret)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a base URL must look like http(s)://host[:port][/path]")
    if parts.username or parts.password or parts.query:
        raise ValueError("a base URL must not carry credentials or a query string: "
                         "keys are read from the environment")
    return value.rstrip("/")


class Endpoint(BaseModel):
    """An extra OpenAI-compatible endpoint (vLLM, LM Studio, TGI, a remote Ollama /v1...)."""

    # hide_input: an invalid URL may hold a secret; frozen: shared with the cached Settings (get_settings)
    model_config = ConfigDict(hide_input_in_errors=True, frozen=True)

    name: str
    base_url: str
    model: str | None = None
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding this endpoint's key."
    )

    @field_validator("base_url")
    @classmethod
    def _no_secrets(cls, value: str) -> str:
        return check_base_url(value)


class WorkspaceNameError(UserError):
    """A workspace name that cannot name a file under the data directory."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BREAKEVEN_", env_file=".env", extra="ignore", populate_by_name=True,
        hide_input_in_errors=True, frozen=True,  # shared between callers: see get_settings
    )

    data_dir: Path = Path("workspaces")
    workspace: str = "main"  # your own logs; the synthetic demo lives apart, in analysis.ingest.demo.DEMO_WORKSPACE
    duckdb_path: Path | None = Field(
        default=None, description="Use this DuckDB file instead of <data_dir>/<workspace>.duckdb."
    )
    workspace_wait_s: float = Field(
        default=120.0, gt=0, description="How long an operation waits for a workspace another process "
        "holds (analysis.store.access) before giving up.")
    ollama_host: str = "http://127.0.0.1:11434"
    endpoints: tuple[Endpoint, ...] = ()
    local_engine_port: int = 8091
    local_engine_parallel: int = 4
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BREAKEVEN_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BREAKEVEN_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )

    def workspace_path(self, workspace: str | None = None) -> Path:
        """The DuckDB file of a workspace: `duckdb_path` if set (for the default workspace),
        else `<data_dir>/<name>.duckdb`."""
        name = workspace or self.workspace
        if self.duckdb_path is not None and name == self.workspace:
            return self.duckdb_path
        if not WORKSPACE_NAME.match(name):
            raise WorkspaceNameError(
                f"invalid workspace name {name!r}: use letters, digits, '_', '-' or '.', "
                "starting with a letter or digit (at most 64 characters)"
            )
        return self.data_dir / f"{name}.duckdb"

    def workspaces(self) -> list[str]:
        """Names of the workspaces that exist under the data directory, sorted."""
        if not self.data_dir.is_dir():
            return []
        return sorted(p.stem for p in self.data_dir.glob("*.duckdb"))


def get_settings(**overrides) -> Settings:
    """Settings from the arguments, the environment and `.env`. Without arguments, one (frozen)
    Settings per state of the environment, the working directory and `.env`: building them takes a
    few milliseconds and a dashboard page asks dozens of times per run, while a changed variable
    (a test pointing BREAKEVEN_DATA_DIR elsewhere) or an edited `.env` is still seen at once."""
    if overrides:
        return Settings(**overrides)
    try:
        folder = os.getcwd()
    except OSError:  # the working directory was removed: nothing to key on, build them afresh
        return Settings()
    try:
        dotenv = os.stat(".env")
        dotenv_state = (dotenv.st_mtime_ns, dotenv.st_size, dotenv.st_ino)
    except OSError:  # no .env here
        dotenv_state = None
    return _settings_for(tuple(sorted(os.environ.items())), folder, dotenv_state)


@lru_cache(maxsize=16)
def _settings_for(environment: tuple, folder: str, dotenv_state: tuple | None) -> Settings:
    """Settings for this key (its parts only key the cache; Settings reads them itself)."""
    return Settings()
