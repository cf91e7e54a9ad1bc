"""The ``ui.auth`` config section: users, tokens and login limits of the panel and the REST API."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from spark.core.config.base import StrictModel


class AuthConfig(StrictModel):
    users_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the users database. Default: users.db beside the "
        "recorder's SQLite file (or in ui.data_dir when the recorder uses PostgreSQL).",
    )
    admin_user: str = Field("admin", min_length=1, max_length=64,
                            description="Name of the first admin, created on the first run.")
    admin_password: SecretStr | None = Field(
        None, description="First-run admin password (SPARK__UI__AUTH__ADMIN_PASSWORD); prefer "
        "admin_password_file. Neither: one is generated and printed once.")
    admin_password_file: Path | None = Field(None, description="File holding that password.")
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 signing key; prefer jwt_secret_file. Neither: one is generated "
        "once into <ui.data_dir>/jwt.secret (mode 0600).")
    jwt_secret_file: Path | None = Field(None, description="File holding the signing key.")
    access_ttl: float = Field(900.0, ge=5, le=86_400, description="Access token lifetime, s.")
    refresh_ttl: float = Field(14 * 86_400.0, ge=60, description="Refresh token lifetime, s.")
    login_attempts: int = Field(
        5, ge=1, description="Failed logins allowed per client IP within login_window.")
    login_window: float = Field(300.0, gt=0, description="Seconds the failures are counted.")
    login_concurrency: int = Field(
        2, ge=1, le=64, description="Password checks of one client IP running at once; more "
        "are refused (429) at once.")
    login_verifications: int = Field(
        4, ge=1, le=64, description="Password checks (argon2) running at once in total.")
    min_password: int = Field(10, ge=8, le=128, description="Shortest password accepted; "
                              "common and repetitive ones are refused at any length.")

    @model_validator(mode="after")
    def _one_source(self) -> AuthConfig:
        if self.admin_password is not None and self.admin_password_file is not None:
            raise ValueError("set either ui.auth.admin_password or admin_password_file")
        if self.jwt_secret is not None and self.jwt_secret_file is not None:
            raise ValueError("set either ui.auth.jwt_secret or jwt_secret_file")
        return self

    def admin_secret(self) -> str | None:
        if self.admin_password is not None:
            return self.admin_password.get_secret_value()
        if self.admin_password_file is not None:
            return self.admin_password_file.read_text().strip() or None
        return None
