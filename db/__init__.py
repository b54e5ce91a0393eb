"""Storage: models, the engine, and queries that are always scoped to one owner."""
