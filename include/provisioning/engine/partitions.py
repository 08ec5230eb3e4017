"""Which partition of a cycle's apply an object's actions belong to, and each partition's share of
the app's limits.

The partition of a user is a stable hash of its directory id (CRC-32, the same in every process and
release, unlike Python's salted ``hash``), so a retried partition finds exactly the actions it
owned, whichever worker runs it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Partition:
    index: int  # 0 .. count - 1
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} of {self.count} does not exist")

    def owns(self, source_id: str) -> bool:
        return zlib.crc32(source_id.encode()) % self.count == self.index

    def share(self, limit: float) -> float:
        """This partition's part of an app-wide rate: together they never exceed it."""
        return limit / self.count

    def share_of_slots(self, slots: int) -> int:
        """This partition's requests in flight: at least one each, the app-wide total otherwise."""
        return max(1, math.floor(slots / self.count))
