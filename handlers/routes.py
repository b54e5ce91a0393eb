"""The spec's paths, as the edge of the app needs them: operationIds and templates for logs and
metrics, methods for `Allow`."""

import importlib
from pathlib import Path

import yaml
from starlette.routing import compile_path

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecRoutes:
    def __init__(self, spec_file: Path) -> None:
        paths = yaml.safe_load(spec_file.read_text())["paths"]
        # Both keyed by Connexion's name of an operation: its controller and operationId, as in the routing scope.
        self.templates: dict[str, str] = {}
        self.operation_ids: dict[str, str] = {}
        self._allow: list[tuple] = []  # (compiled path pattern, its Allow header)
        self.methods: list[str] = []  # every method the spec uses, for CORS
        for template, item in paths.items():
            methods = [m.upper() for m in HTTP_METHODS if m in item]
            self.methods += [m for m in methods if m not in self.methods]
            self._allow.append((compile_path(template)[0], ", ".join(methods)))
            for operation in (item[m.lower()] for m in methods):
                name = f"{operation['x-openapi-router-controller']}.{operation['operationId']}"
                self.templates[name], self.operation_ids[name] = template, operation["operationId"]

    def functions(self) -> list:
        """The function each operation routes to."""
        return [getattr(importlib.import_module(module), name)
                for module, _, name in (operation.rpartition(".") for operation in self.templates)]

    def allow_header(self, path: str) -> str:
        for pattern, methods in self._allow:
            if pattern.match(path):
                return methods
        return ""
