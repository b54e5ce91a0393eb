"""The app factory: the spec routes, Connexion validates and secures, this file only wires things."""

import asyncio
import inspect
import logging
from contextlib import asynccontextmanager
from datetime import timedelta

import orjson
from anyio import to_thread
from connexion import AsyncApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.cors import CORSMiddleware

from db import changes, idempotency
from db.session import make_engine, using
from handlers import context, errors, metrics, security
from handlers.contract import SPEC_FILE
from handlers.edge import Edge
from handlers.routes import SpecRoutes
from handlers.settings import Settings
from handlers.swagger_ui import SwaggerUI
from handlers.validation import VALIDATORS, ExplodedArrays

log = logging.getLogger("tasks_api.housekeeping")


def create_app(settings: Settings | None = None) -> AsyncApp:
    settings = settings or Settings.from_env()
    verifier = security.TokenVerifier(settings)
    routes = SpecRoutes(SPEC_FILE)
    keep_signatures([security.bearer_info, *routes.functions()])
    database = {}

    @asynccontextmanager
    async def lifespan(_app):
        database["engine"] = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                                         max_overflow=settings.db_max_overflow,
                                         connect_timeout=settings.db_connect_timeout_seconds,
                                         statement_timeout=settings.db_statement_timeout_seconds)
        metrics.instrument(database["engine"])
        # Handlers run in anyio's thread pool: one thread per pooled connection, so no thread waits for
        # a connection and no connection is opened and closed again past the pool's size.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size + settings.db_max_overflow
        housekeeping = asyncio.create_task(purge_expired(database["engine"], settings))
        try:
            yield
        finally:
            housekeeping.cancel()
            database.pop("engine").dispose()

    app = AsyncApp(
        __name__,
        lifespan=lifespan,
        specification_dir=SPEC_FILE.parent,
        validator_map=VALIDATORS,
        uri_parser_class=ExplodedArrays,
        strict_validation=True,
        validate_responses=settings.response_validation,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs"),
        jsonifier=Jsonifier(FastJSON),
        middlewares=[SwaggerUI if middleware is SwaggerUIMiddleware else middleware
                     for middleware in ConnexionMiddleware.default_middlewares],
    )
    app.add_api(SPEC_FILE.name)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            allow_origins=list(settings.allowed_origins),
            allow_methods=routes.methods,
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Location", "X-Request-ID"],
        )
    app.add_middleware(Edge, position=MiddlewarePosition.BEFORE_EXCEPTION, routes=routes,
                       body_timeout=settings.body_timeout_seconds)
    app.add_middleware(BindServices, position=MiddlewarePosition.BEFORE_EXCEPTION, database=database,
                       verifier=verifier, settings=settings)
    errors.register(app, routes)
    logging.getLogger("connexion").setLevel(logging.WARNING)
    return app


def keep_signatures(functions: list) -> None:
    """Connexion inspects each operation's function, and the security function twice, on every request.
    inspect.signature() returns a function's own __signature__ as it is instead of building it again:
    3 to 6 % of a get's or a create's CPU time."""
    for function in functions:
        function.__signature__ = inspect.signature(function)


class FastJSON:
    """orjson behind the json-module interface Connexion's Jsonifier expects. It encodes UUIDs and UTC
    datetimes (RFC 3339 with `Z`) natively, so a list of 1,000 tasks is not converted field by field."""

    @staticmethod
    def dumps(data, **_json_module_options) -> str:
        return orjson.dumps(data, option=orjson.OPT_UTC_Z).decode()

    loads = staticmethod(orjson.loads)


class BindServices:
    """Gives each request this app's engine and token verifier, through context variables.

    The spec names the security function and handlers are plain functions, so neither can be handed
    the app's objects; binding them per request keeps two apps in one process (tests) apart.
    """

    def __init__(self, app, database: dict, verifier: security.TokenVerifier, settings: Settings) -> None:
        self.app = app
        self.database = database
        self.verifier = verifier
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        with using(self.database["engine"]), security.using(self.verifier), context.binding(scope, self.settings):
            await self.app(scope, receive, send)


async def purge_expired(engine, settings: Settings) -> None:
    """Forgets expired idempotency keys and tombstones past their retention, in every worker, so that
    no operator has to schedule it. Deleting what another worker already deleted costs nothing."""
    every = max(1.0, min(300.0, settings.idempotency_key_ttl_seconds / 2, settings.tombstone_retention_seconds / 2))

    def purge() -> None:
        with using(engine):
            idempotency.purge(older_than=timedelta(seconds=settings.idempotency_key_ttl_seconds))
            changes.purge_tombstones(older_than=timedelta(seconds=settings.tombstone_retention_seconds))

    while True:
        await asyncio.sleep(every)
        try:
            await to_thread.run_sync(purge)
        except SQLAlchemyError as error:  # the database is away: the next round tries again
            log.warning("purging expired keys and tombstones failed: %s", type(error).__name__)


def create_app_from_env() -> AsyncApp:
    """The factory uvicorn's workers import; each reads the same environment."""
    return create_app(Settings.from_env())
