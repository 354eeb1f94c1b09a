"""Signed audit checkpoints: every chain's head at one moment, signed with Ed25519.

A checkpoint is kept outside the database (and its signing key too), so someone who
can rewrite the database, hashes and heads included, cannot make the trail agree with
a checkpoint taken before the rewrite.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from signoff.domain import audit as audit_rules
from signoff.domain import errors

FORMAT = "signoff-audit-checkpoint/1"
#: A checkpoint file larger than this is refused before it is parsed.
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Checkpoint:
    """Heads of every chain (chain -> (seq, hash)) and counts at `created_at`."""

    created_at: datetime
    events: int
    legacy_events: int
    heads: Mapping[str, tuple[int, str]]

    def anchor(self, chain: str) -> audit_rules.Anchor | None:
        head = self.heads.get(chain)
        if head is None:
            return None
        return audit_rules.Anchor(head[0], head[1], self.created_at.isoformat())

    def _body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": self.created_at.isoformat(),
            "events": self.events,
            "legacy_events": self.legacy_events,
            "chains": len(self.heads),
            "heads": {chain: [seq, digest] for chain, (seq, digest) in sorted(self.heads.items())},
        }


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(checkpoint: Checkpoint, key: ed25519.Ed25519PrivateKey) -> bytes:
    """The checkpoint file's bytes: its body, the public key and the signature over the body."""
    body = checkpoint._body()
    signature = key.sign(_canonical(body))
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    document = {
        **body,
        "public_key": base64.b64encode(public).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


def load(data: bytes, public_key: ed25519.Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in `data` if its signature verifies under `public_key`; else InvalidCheckpoint.

    The public key must come from the operator, never from the file: the file's own
    `public_key` only says which key signed it.
    """
    if len(data) > MAX_FILE_BYTES:
        raise errors.InvalidCheckpoint("the checkpoint file is too large")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidCheckpoint("the checkpoint file is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise errors.InvalidCheckpoint(f"not a signoff audit checkpoint ({FORMAT})")
    signature = document.pop("signature", None)
    document.pop("public_key", None)
    try:
        raw_signature = base64.b64decode(str(signature), validate=True)
        public_key.verify(raw_signature, _canonical(document))
    except (InvalidSignature, binascii.Error, ValueError):
        raise errors.InvalidCheckpoint(
            "the checkpoint's signature does not verify with this public key: "
            "the file was altered or signed with another key"
        ) from None
    try:
        heads = {
            str(chain): (int(seq), str(digest))
            for chain, (seq, digest) in document["heads"].items()
        }
        return Checkpoint(
            created_at=datetime.fromisoformat(document["created_at"]),
            events=int(document["events"]),
            legacy_events=int(document["legacy_events"]),
            heads=heads,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise errors.InvalidCheckpoint("the checkpoint is signed but malformed") from None


def load_private_key(pem: bytes) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise errors.ConfigError(
            "the audit signing key file is not an unencrypted PEM key"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise errors.ConfigError("the audit signing key is not an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from a PEM public key, or from the private key's PEM."""
    if b"PRIVATE KEY" in pem:
        return load_private_key(pem).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise errors.ConfigError("the public key file is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise errors.ConfigError("the public key is not an Ed25519 key")
    return key


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (private PEM, public PEM)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
