"""Site reports (core layer): what the engine found at every port of one site -- the ``SiteReport`` the
judgement reads. Its results are ``model.PortResult`` objects; the site is ``schema.Site``.
"""

from __future__ import annotations

from check_digitalsentry.kinds import DEFAULT_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from check_digitalsentry.model import PortResult
    from check_digitalsentry.schema import Site


class SiteReport:
    """All port results of one site, in a stable order (host, then the catalogue's role order).

    ``seconds`` is how long the site's probes took; ``budget`` the time they really had: from the
    start of the engine run to the site's deadline (its own timeout, or the run's deadline if sooner).
    """

    __slots__ = ("budget", "results", "seconds", "site")

    def __init__(self, site: Site, results: list[PortResult], seconds: float,
                 budget: float = DEFAULT_TIMEOUT) -> None:
        self.site = site
        self.results = results
        self.seconds = seconds
        self.budget = budget

    def __repr__(self) -> str:
        return f"SiteReport({self.site.name!r}, {len(self.results)} results, {self.seconds:.3f}s)"
