"""Swagger UI's copy of the spec names the server the page was loaded from.

Connexion serves the spec with `servers: [{url: ""}]` (the path prefix the request came under, empty
without one), which Swagger UI shows as an empty "Servers" entry. It stays relative, so that "Try it
out" goes wherever the page came from, behind any port or proxy; it is only no longer empty.
"""

from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware


class ThisServerSpec(SwaggerUIAPI):
    def _spec_for_prefix(self, request) -> dict:
        spec = super()._spec_for_prefix(request)
        prefix = spec["servers"][0]["url"]
        return {**spec, "servers": [{"url": prefix or "/", "description": "This server (where this page came from)"}]}


class SwaggerUI(SwaggerUIMiddleware):
    def add_api(self, specification, base_path=None, arguments=None, **kwargs) -> None:
        api = ThisServerSpec(specification, base_path=base_path, arguments=arguments, default=self.default_fn,
                             **kwargs)
        self.router.mount(api.base_path, app=api.router)
