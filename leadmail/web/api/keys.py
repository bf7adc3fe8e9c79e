"""Who is asking: the API key of a request (`X-API-Key` or `Authorization: Bearer`), checked
before the body is read, and GET /me."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from leadmail.config import Settings
from leadmail.followup import access
from leadmail.followup.access import Principal
from leadmail.web.api.schemas import AUTH, Me

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="An API key from [[api_keys]]")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token")


@dataclass(frozen=True)
class Keys:
    """The API keys of one Settings, as the routes use them: `route_class` for every router of
    the API, `who` and `reader` as dependencies (`reader` refuses post-only keys)."""

    route_class: type[APIRoute]
    who: Callable[..., Principal]
    reader: Callable[..., Principal]

    def router(self) -> APIRouter:
        """A router of the API: under /api/v1, tagged "leads", the key checked first."""
        return APIRouter(prefix="/api/v1", tags=["leads"], route_class=self.route_class)


def keys(settings: Settings) -> Keys:
    """The Keys of `settings`."""
    class AuthFirst(APIRoute):
        """Checks the API key before the body is read: a request without a valid key gets its
        401 at once, whatever it sends (`who` below then names the principal)."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                if access.authenticate(settings, _presented(request)) is None:
                    raise HTTPException(401, "a valid API key is needed (X-API-Key or Bearer)",
                                        headers={"WWW-Authenticate": "Bearer"})
                return await handler(request)

            return checked

    def who(key: Annotated[str | None, Security(_key_header)] = None,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None
            ) -> Principal:
        found = access.authenticate(settings, key or (bearer.credentials if bearer else None))
        if found is None:
            raise HTTPException(401, "a valid API key is needed (X-API-Key or Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def reader(p: Annotated[Principal, Depends(who)]) -> Principal:
        if not p.can_read:
            raise HTTPException(403, "this key may only post leads")
        return p

    return Keys(route_class=AuthFirst, who=who, reader=reader)


def router(k: Keys) -> APIRouter:
    """GET /me."""
    r = k.router()

    @r.get("/me", responses=AUTH)
    def me(p: Annotated[Principal, Depends(k.who)]) -> Me:
        """Who this key is, and what it sees."""
        return Me(name=p.name, role=p.role, user=p.user, teams=list(p.teams))

    return r


def _presented(request: Request) -> str | None:
    """The key a request presents, read as `_key_header` and `_bearer` read it."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
