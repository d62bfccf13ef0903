"""The affiliates' customer databases: one engine per affiliate, reached by URL, made lazily."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from gateway.db.engine import make_engine
from gateway.db.reader import Reader
from gateway.errors import ConfigError

__all__ = ["AffiliateDatabases"]


class AffiliateDatabases:
    """Engines by affiliate id; an engine (and an SQLite file) exists only once it is used."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self._urls = dict(urls)
        self._engines: dict[str, Engine] = {}
        self._readers: dict[str, Reader] = {}
        self._lock = threading.Lock()

    @property
    def affiliates(self) -> tuple[str, ...]:
        return tuple(sorted(self._urls))

    def engine(self, affiliate: str) -> Engine:
        engine = self._engines.get(affiliate)
        if engine is not None:
            return engine
        with self._lock:
            engine = self._engines.get(affiliate)
            if engine is None:
                url = self._urls.get(affiliate)
                if url is None:
                    raise ConfigError(f"no database url configured for affiliate `{affiliate}`")
                # Affiliate databases are read by the gateway; their durability is theirs.
                engine = make_engine(url, synchronous="NORMAL")
                self._engines[affiliate] = engine
            return engine

    def reader(self, affiliate: str) -> Reader:
        """Compiled single-row reads of the affiliate's database (`gateway.db.reader`)."""
        reader = self._readers.get(affiliate)
        if reader is None:
            engine = self.engine(affiliate)
            with self._lock:
                reader = self._readers.setdefault(
                    affiliate, Reader(engine, name=f"affiliate database `{affiliate}`"))
        return reader

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
            self._readers = {}
        for engine in engines:
            engine.dispose()

    def __repr__(self) -> str:  # URLs may carry passwords: name the affiliates only
        return f"AffiliateDatabases(affiliates={list(self.affiliates)!r})"
