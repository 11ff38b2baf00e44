"""Django's Redis cache with two costs per operation removed.

Django builds a new `redis.Redis` for every cache call and spends two round trips on
`incr` (EXISTS, then INCRBY). Every inbound mail and ticket write bumps the navigation
version twice, and every page reads the session and the counts, so both showed in the
ingest profile. Here a client is kept per connection pool (redis-py clients are
thread-safe and reset their pool after a fork) and `incr` is one atomic script.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

# Same contract as Django's incr: a missing key is an error, not a new counter.
_INCR_EXISTING = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""


class ReusedRedisCacheClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        # Per pool: its client and the registered incr script (EVALSHA after the first).
        self._clients: dict[int, tuple[Any, Any]] = {}

    def _client_and_incr(self, write: bool) -> tuple[Any, Any]:
        pool = self._get_connection_pool(write)
        pair = self._clients.get(id(pool))
        if pair is None:
            client = self._client(connection_pool=pool)
            pair = self._clients[id(pool)] = (client, client.register_script(_INCR_EXISTING))
        return pair

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return self._client_and_incr(write)[0]

    def incr(self, key: Any, delta: int) -> int:
        value = self._client_and_incr(True)[1](keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)


class ReusedClientRedisCache(RedisCache):
    """settings.CACHES backend: `helpdesk.cache.ReusedClientRedisCache`."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient
