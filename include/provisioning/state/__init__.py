"""The state store: links, snapshots, the outbox, escrow, cycles and the provisioning log, one
module per concern behind the ``StateStore`` facade."""

from provisioning.state.store import StateStore

__all__ = ["StateStore"]
