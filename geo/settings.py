"""gridmap settings: environment variables prefixed GRIDMAP_, plus the plain DATABASE_URL."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything gridmap can be told from outside; created by `get_settings()`, never at import."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "GRIDMAP_DATABASE_URL"),
        description="SQLAlchemy URL of an existing PostGIS database; unset runs a private cluster.",
    )
    var_dir: Path = Field(default_factory=lambda: default_var_dir(),
                          description="Where the private cluster lives.")
    pg_port: int = Field(default=54329, description="TCP port of the private cluster (127.0.0.1).")
    db_name: str = Field(default="gridmap", description="Database name in the private cluster.")
    street_code: str = Field(default="330109002", description="The street this instance serves.")
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    admin_token: str | None = Field(default=None, description="Bearer token for admin writes.")
    building_radius_m: float = Field(default=30.0, gt=0, description="Nearest-building cap.")
    grid_radius_m: float = Field(default=200.0, gt=0, description="Nearest-grid cap off coverage.")
    boundary_tolerance_m: float = Field(default=5.0, ge=0,
                                        description="Within this of a grid edge is on_boundary.")
    locator_refresh_s: float = Field(default=1.0, ge=0, description="How often the API's "
                                     "in-memory locator checks the registry for changes.")
    locator_warm: bool = Field(default=True, description="Build the API's locator when the "
                               "app starts instead of on the first lookup.")
    metric_crs: str = Field(default="EPSG:4549", description="Planar CRS for distances in metres "
                            "(CGCS2000 3-degree Gauss-Kruger CM 120E suits Hangzhou).")


def default_var_dir() -> Path:
    """``var/`` of the checkout gridmap runs from, else of the current directory."""
    checkout = Path(__file__).resolve().parents[1]
    return (checkout if (checkout / "pyproject.toml").exists() else Path.cwd()) / "var"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()
