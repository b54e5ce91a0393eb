"""The HTTP service: the spec's operations, its security function, the app factory and the CLI."""
