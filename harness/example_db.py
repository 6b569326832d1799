"""The failure corpus: Hypothesis's example database, local or shared through Redis.

Hypothesis saves every failing example (and the shrunk one) under a key made
from the test, and replays saved examples first (``Phase.reuse``) before it
generates anything new.  A directory keeps that corpus per machine; a Redis
server (``hypothesis.extra.redis.RedisExampleDatabase``) lets a fleet of
hunters share it, so a failure found by one is replayed first by all.

``--example-db`` takes ``PATH`` or ``redis://HOST:PORT[/DB]`` (``rediss://``
for TLS).  The ``ci`` profile is derandomized and keeps no database, so a CI
run depends on nothing but the code; asking it for one is a usage error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from harness import profiles
from harness.errors import UsageError

REDIS_SCHEMES = ("redis", "rediss")
CONNECT_TIMEOUT = 3.0  # seconds to reach Redis; every I/O has a timeout (DESIGN.md, Conventions)
IO_TIMEOUT = 10.0  # seconds per Redis command during the run


def example_database(spec: str) -> ExampleDatabase:
    """The database ``spec`` names; a bad spec or a Redis that does not answer PING is a UsageError."""
    if not spec:
        raise UsageError("--example-db: empty spec (expected PATH or redis://HOST:PORT)")
    if "://" in spec:
        return _redis(spec)
    path = Path(spec)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--example-db {spec}: cannot use as a directory ({exc.strerror})") from None
    return DirectoryBasedExampleDatabase(str(path))


def _redis(spec: str) -> ExampleDatabase:
    parts = urlsplit(spec)
    try:
        port = parts.port  # ValueError for a port that is not a number in 0..65535
    except ValueError:
        port = -1
    if parts.scheme not in REDIS_SCHEMES or not parts.hostname or port == -1:
        raise UsageError(f"--example-db {spec}: expected PATH or redis://HOST:PORT")
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError:
        raise UsageError("--example-db redis://... needs the redis package "
                         "(pip install 'vtpm-harness[redis]')") from None
    client = redis.Redis.from_url(spec, socket_connect_timeout=CONNECT_TIMEOUT,
                                  socket_timeout=IO_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--example-db {spec}: Redis does not answer ({reason})") from None
    return RedisExampleDatabase(client)


def load_profile_with_database(profile: str, spec: str) -> settings:
    """Load ``profile`` with the database ``spec`` as the profile ``PROFILE-db``; returns its settings."""
    if profile not in profiles.PROFILES:  # importing profiles registered them
        raise UsageError(f"unknown profile {profile!r} (expected {', '.join(profiles.PROFILES)})")
    base = settings.get_profile(profile)
    if base.derandomize:
        raise UsageError(f"--example-db: the {profile} profile is derandomized and keeps no database "
                         "(use --profile certify or hunt)")
    name = f"{profile}-db"
    settings.register_profile(name, base, database=example_database(spec))
    settings.load_profile(name)
    return settings.default
