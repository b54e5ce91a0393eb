"""The HTTP service: the spec's operations, its security function, the app factory and the CLI."""

import warnings

# Connexion imports Starlette's TestClient at start-up, which warns about httpx on every `serve`;
# the service never uses the test client, so the warning only confuses operators.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
