"""The signed links of a config's digests: `[web]` and its secret, made into a `LinkSigner`."""

from __future__ import annotations

from litwatch.jobs.config import Config, RecipientConfig
from litwatch.notifications.links import DigestLinks, LinkSigner


def signer_for(config: Config) -> LinkSigner | None:
    """The config's link signer; None without `[web]`.  Raises `ConfigError` (one line) when the
    secret is missing or short."""
    if config.web is None:
        return None
    return LinkSigner(config.web_secret(), config.web.base_url, days=config.web.link_days)


def recipient_config(config: Config, address: str) -> RecipientConfig | None:
    who = address.strip().lower()
    return next((r for r in config.recipients() if r.email.lower() == who), None)


def links_for(config: Config, signer: LinkSigner | None, address: str) -> DigestLinks | None:
    """The links of `address`'s digest: None without `[web]`, and for an address that is not one of
    the config's recipients (`send-test --to`)."""
    if signer is None:
        return None
    r = recipient_config(config, address)
    if r is None:
        return None
    return signer.digest_links(r.email, unsubscribe=r.unsubscribe)
