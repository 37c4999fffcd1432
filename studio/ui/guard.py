"""Who may talk to the app: requests must name an allowed host and come from the app's own pages.

A web page the user visits elsewhere can make the browser send requests to the app: directly (a
cross-origin request carries that page's Origin) or by DNS rebinding (the page's own host name
made to point at 127.0.0.1, so the request carries a foreign Host). Both are refused here, before
Gradio sees them:

- Host must be one the app was started for: the loopback names for a loopback launch, else the
  configured host (plus any `--allow-host`); a launch on 0.0.0.0 or with a share link, which
  require a login, checks only the Origin.
- Origin, when a browser sends one, must be the same host and port as the request's Host.

    app_kwargs={"middleware": [host_guard("127.0.0.1", [])]}
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::")


def host_name(value: str) -> str:
    """'example.org:7860' -> 'example.org'; '[::1]:7860' -> '::1'; '' when it does not parse."""
    try:
        return (urlsplit(f"//{value}").hostname or "").lower()
    except ValueError:
        return ""


def allowed_hosts(server_name: str, extra: list[str], share: bool) -> set[str] | None:
    """Host names the app answers to; None when any host may (a login guards those launches)."""
    if share or server_name in ANY_ADDRESS:
        return None
    names = set(LOOPBACK_NAMES) if server_name in LOOPBACK_NAMES else {server_name.lower()}
    return names | {name.lower() for name in extra}


class HostGuard:
    """ASGI middleware: 403 for a Host not allowed, or an Origin that is not the app itself."""

    def __init__(self, app, hosts: set[str] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        reason = refusal(headers.get("host", ""), headers.get("origin"), self.hosts)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await PlainTextResponse(reason, status_code=403)(scope, receive, send)


def refusal(host: str, origin: str | None, hosts: set[str] | None) -> str | None:
    """Why a request is refused, or None to serve it."""
    if hosts is not None and host_name(host) not in hosts:
        return "This address is not one the studio was started for."
    if origin is not None:
        parts = urlsplit(origin) if origin != "null" else None
        if parts is None or parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            return "Requests from other web pages are refused."
    return None


def host_guard(server_name: str, extra: list[str], share: bool = False) -> Middleware:
    return Middleware(HostGuard, hosts=allowed_hosts(server_name, extra, share))
