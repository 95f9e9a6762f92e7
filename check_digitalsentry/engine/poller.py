"""Readiness of file descriptors (engine layer): the one poller the scheduler and the resolver share."""

from __future__ import annotations

import select

from check_digitalsentry.engine.api import READ, WRITE


class Poller:
    """Readiness of file descriptors: ``select.epoll`` where the system has it (no Python-level wrapping
    per call: the loop handles tens of thousands of sockets), ``selectors`` elsewhere."""

    def __init__(self) -> None:
        epoll = getattr(select, "epoll", None)
        self.epoll = epoll() if epoll is not None else None
        if self.epoll is None:  # pragma: no cover - not Linux
            import selectors

            self.selector: selectors.BaseSelector | None = selectors.DefaultSelector()
        else:
            self.selector = None
        self.data: dict[int, object] = {}

    def register(self, fd: int, events: int, data: object) -> None:
        if self.epoll is not None:
            self.epoll.register(fd, (select.EPOLLIN if events & READ else 0) | (select.EPOLLOUT if events & WRITE
                                                                                 else 0))
        else:  # pragma: no cover
            assert self.selector is not None
            self.selector.register(fd, events)
        self.data[fd] = data

    def unregister(self, fd: int) -> None:
        if self.data.pop(fd, None) is None:
            return
        try:
            if self.epoll is not None:
                self.epoll.unregister(fd)
            else:  # pragma: no cover
                assert self.selector is not None
                self.selector.unregister(fd)
        except (OSError, KeyError, ValueError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, object]]:
        """(fd, data) of every descriptor that is ready (or in error) within ``timeout`` seconds."""
        if self.epoll is not None:
            ready = [fd for fd, _events in self.epoll.poll(-1 if timeout is None else timeout)]
        else:  # pragma: no cover
            assert self.selector is not None
            ready = [key.fd for key, _mask in self.selector.select(timeout)]
        return [(fd, self.data.get(fd)) for fd in ready]

    def close(self) -> None:
        if self.epoll is not None:
            self.epoll.close()
        elif self.selector is not None:  # pragma: no cover
            self.selector.close()
