"""GET /metrics: the service's registry in the Prometheus text format, for allowed addresses.

No login (a scraper holds no session), but only clients whose address is in
`service.metrics_allow` (loopback by default) get the numbers; anyone else gets the one
error body, 403 `address_not_allowed`. The address is the peer uvicorn reports, which follows
a forwarding header only from a proxy the settings trust. Served by the event loop that
serves the calls, so a wedged loop fails the scrape instead of reporting stale numbers.
docs/decisions/0005-metrics-endpoint.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response

from hotline.api_errors import ApiError
from hotline.metrics import Metrics

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_allowed(host: str | None, allow: Sequence[Network]) -> bool:
    """Whether a peer address (IPv4, IPv6 or IPv4-mapped IPv6) is in one of `allow`."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:  # no address (a Unix socket), or not an IP at all
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allow)


def metrics_router(metrics: Metrics, allow: Sequence[Network]) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        host = request.client.host if request.client else None
        if not address_allowed(host, allow):
            raise ApiError(403, "address_not_allowed",
                           "metrics are served only to the addresses in service.metrics_allow",
                           {"address": host})
        body, content_type = metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    return router
