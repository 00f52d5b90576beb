"""Partition leases: which replica of a service consumes a partition.

One active consumer per partition keeps per-store order (and the consumer's rewind-to-ack-floor
relies on it), while replicas share the partitions. A lease is a key in a NATS KV bucket whose
entries expire after `ttl`: the holder renews it with compare-and-set well before that; a replica
that finds the key held stands by, and takes over once the holder stops renewing. A holder whose
renewal fails stops consuming at once. The consumer's tracking record fences the rare overlap:
a stale holder's commit cannot move the tracked position backwards, and positions at or below it
are acked without effect.
"""

from __future__ import annotations

import contextlib
import logging
import time

from nats.js import JetStreamContext
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

BUCKET = "tillstream_leases"


class PartitionLease:
    """A renewable, expiring claim on one consumer's partition by one replica."""

    def __init__(self, js: JetStreamContext, key: str, owner: str, ttl: float = 10.0) -> None:
        self.js = js
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.revision: int | None = None
        self.renewed_at = 0.0
        self._kv: KeyValue | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.js.key_value(BUCKET)
            except (BucketNotFoundError, NotFoundError):
                self._kv = await self.js.create_key_value(bucket=BUCKET, ttl=self.ttl)
        return self._kv

    async def hold(self) -> bool:
        """Acquire or renew as due; True while this replica holds the lease."""
        if self.revision is None:
            return await self._acquire()
        if time.monotonic() - self.renewed_at < self.ttl / 3:
            return True
        kv = await self._bucket()
        try:
            self.revision = await kv.update(self.key, self.owner.encode(), last=self.revision)
            self.renewed_at = time.monotonic()
            return True
        except KeyWrongLastSequenceError:
            log.warning("lease %s lost by %s", self.key, self.owner)
            self.revision = None
            return False

    async def _acquire(self) -> bool:
        kv = await self._bucket()
        try:
            self.revision = await kv.create(self.key, self.owner.encode())
        except KeyWrongLastSequenceError:
            try:
                entry = await kv.get(self.key)
            except KeyNotFoundError:
                return False  # expired a moment ago: the next attempt creates it
            if entry.value != self.owner.encode():
                return False
            # Our own claim from before a restart: take it back at once.
            try:
                self.revision = await kv.update(
                    self.key, self.owner.encode(), last=entry.revision
                )
            except KeyWrongLastSequenceError:
                return False
        self.renewed_at = time.monotonic()
        log.info("lease %s held by %s", self.key, self.owner)
        return True

    async def release(self) -> None:
        """Give the lease up (on a clean stop), so a standby takes over without waiting."""
        if self.revision is None:
            return
        kv = await self._bucket()
        with contextlib.suppress(KeyWrongLastSequenceError):  # already lost: nothing to give
            await kv.delete(self.key, last=self.revision)
        self.revision = None
