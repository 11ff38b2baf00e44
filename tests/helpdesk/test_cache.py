"""helpdesk.cache: Django's Redis cache with one client per pool and a one-trip incr."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

pytestmark = pytest.mark.skipif(
    settings.CACHES["default"]["BACKEND"] != "helpdesk.cache.ReusedClientRedisCache",
    reason="runs against the Redis cache (REDIS_URL)",
)


@pytest.fixture
def key() -> str:
    name = f"test-cache-{uuid.uuid4().hex}"
    yield name
    cache.delete(name)


def test_incr_of_a_missing_key_is_an_error_and_creates_nothing(key):
    with pytest.raises(ValueError, match="not found"):
        cache.incr(key)
    assert cache.get(key) is None


def test_incr_counts_and_returns_the_new_value(key):
    cache.set(key, 40, timeout=None)
    assert cache.incr(key) == 41
    assert cache.incr(key, 5) == 46
    assert cache.get(key) == 46


def test_incr_keeps_the_timeout(key):
    cache.set(key, 1, timeout=300)
    cache.incr(key)
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 300


def test_incr_is_one_round_trip_and_the_client_is_reused(key):
    cache.set(key, 1, timeout=None)
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(key) is client
    before = client.info("commandstats")
    cache.incr(key)
    after = client.info("commandstats")

    def calls(stats: dict, name: str) -> int:
        return stats.get(f"cmdstat_{name}", {}).get("calls", 0)

    # One EVALSHA from us (Redis also counts the EXISTS and INCRBY the script runs);
    # Django's incr sent EXISTS and INCRBY as two commands of their own.
    assert calls(after, "evalsha") == calls(before, "evalsha") + 1
    assert calls(after, "incrby") == calls(before, "incrby") + 1
