"""Who may call the bridge: the alert token, admin tokens (optionally named, for the audit
log), and the webhook body's optional HMAC signature."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from lumen_bridge.config.fields import Model, OptionalSecret, OptionalStr

__all__ = ["ADMIN", "AuthConfig", "NamedToken"]

_ACTOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def _actor_name(name: str) -> str:
    if not _ACTOR_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} cannot name a token: use up to 64 letters, digits and . _ @ + -"
        )
    return name


ActorName = Annotated[str, AfterValidator(_actor_name)]


class NamedToken(Model):
    """An admin token that carries the name of who uses it (the audit log records it)."""

    name: ActorName
    token: SecretStr = Field(min_length=1)


def _named_tokens(value: object) -> object:
    """``alice=TOKEN,bob=TOKEN`` (how an environment variable gives them) as a list."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if not isinstance(value, str):
        return value
    pairs = [item.strip().partition("=") for item in value.split(",") if item.strip()]
    if any(not sep for _, sep, _ in pairs):
        raise ValueError("write named admin tokens as name=token, separated by commas")
    return [{"name": name.strip(), "token": token.strip()} for name, _, token in pairs]


ADMIN = "admin"
"""The name the audit log gives the unnamed ``admin_token``."""


class AuthConfig(Model):
    """Bearer tokens; unset or empty means no authentication (loopback only). Admin tokens
    may carry names (``admin_tokens``), which the audit log records. Optionally, a webhook
    body must also carry an HMAC-SHA256 signature made with a secret from a file."""

    alert_token: OptionalSecret = None
    admin_token: OptionalSecret = None
    """An admin token without a name (the audit log says ``admin``)."""
    admin_tokens: Annotated[list[NamedToken], BeforeValidator(_named_tokens)] = Field(
        default_factory=list
    )
    webhook_hmac_secret_file: OptionalStr = None
    """A file whose content (stripped) is the secret; unset: bodies are not signed."""
    webhook_hmac_header: str = "X-Lumen-Signature"
    """The header that carries the signature: hex, optionally prefixed ``sha256=``."""

    @model_validator(mode="after")
    def _distinct_admins(self) -> AuthConfig:
        names = [name for name, _ in self.admins()]
        tokens = [token.get_secret_value() for _, token in self.admins()]
        if len(set(names)) != len(names):
            raise ValueError(f"two admin tokens carry one name ({ADMIN!r} is admin_token's)")
        if len(set(tokens)) != len(tokens):
            raise ValueError("two admin tokens are the same: give each person their own")
        return self

    def admins(self) -> list[tuple[str, SecretStr]]:
        """Every admin token with its name; empty when admin authentication is off."""
        unnamed = [] if self.admin_token is None else [(ADMIN, self.admin_token)]
        return unnamed + [(named.name, named.token) for named in self.admin_tokens]
