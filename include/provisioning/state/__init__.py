"""The state store: links, snapshots, the outbox, cycles and the provisioning log."""

from provisioning.state.store import OutboxRow, Outcome, StateStore

__all__ = ["OutboxRow", "Outcome", "StateStore"]
