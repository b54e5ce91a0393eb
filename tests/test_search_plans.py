"""On PostgreSQL every new filter and sort is served by an index, for a user with 100,000 tasks.

The statements are the ones db/listing.py builds for a request; PostgreSQL's EXPLAIN shows which
indexes it would use. A sequential scan over the user's tasks would make search slower with every
task a user adds.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import throwaway_postgres
from sqlalchemy import func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from db import migrations
from db.listing import Filters, conditions, page_query
from db.session import make_engine
from db.tasks import tasks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import seed  # bench/ is a folder of scripts, not a package

USER = "big-0"


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element, compiler, **kw) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


@pytest.fixture(scope="module")
def big_user():
    with throwaway_postgres() as url:
        migrations.upgrade(url)
        seed.seed(url, prefix="big", users=1, tasks=100_000)  # analyses the tables when done
        seed.seed(url, prefix="crowd", users=5_000, tasks=20)  # other users around them
        engine = make_engine(url)
        yield engine
        engine.dispose()


def plan(engine, statement) -> str:
    with engine.connect() as connection:
        return "\n".join(connection.execute(Explain(statement)).scalars())


def page(filters: Filters, sort: str = "created_at"):
    """The page a request would read, its count left out (the count is planned on its own below)."""
    return page_query(conditions(USER, filters, "postgresql"), literal(0).label("total"), sort, 100, None,
                      "postgresql")


def count(filters: Filters):
    return select(func.count()).select_from(tasks).where(*conditions(USER, filters, "postgresql"))


DUE = datetime(2026, 12, 1, tzinfo=UTC)


SEARCHES = [Filters(q="passport"), Filters(q="passport visa"), Filters(q="4242"), Filters(q="task 4242"),
            Filters(labels=("health",)), Filters(labels=("errand", "work"))]


@pytest.mark.parametrize("filters", SEARCHES, ids=repr)
def test_counting_what_a_search_or_label_filter_matches_reads_only_the_gin_index_matches(big_user, filters):
    explained = plan(big_user, count(filters))
    assert "Seq Scan" not in explained, explained
    assert ("ix_tasks_user_search" if filters.q else "ix_tasks_user_labels") in explained, explained


@pytest.mark.parametrize("filters", SEARCHES, ids=repr)
def test_a_page_of_a_search_or_label_filter_is_never_a_sequential_scan(big_user, filters):
    """A word found in one task in ten is read fastest by walking the sort order's index until the
    page is full; a rarer one (4242 is in 10 of the 100,000 titles) straight from the trigram index."""
    explained = plan(big_user, page(filters))
    assert "Seq Scan" not in explained, explained
    if "4242" in (filters.q or ""):
        assert "ix_tasks_user_search" in explained, explained


@pytest.mark.parametrize("filters, sort, index", [
    (Filters(), "due_at", "ix_tasks_user_due"),
    (Filters(), "-due_at", "ix_tasks_user_due"),
    (Filters(), "priority", "ix_tasks_user_priority"),
    (Filters(), "-priority", "ix_tasks_user_priority"),
    (Filters(due_before=DUE, due_after=DUE.replace(day=1, month=11)), "due_at", "ix_tasks_user_due"),
    (Filters(priorities=("high",)), "priority", "ix_tasks_user_priority"),
])
def test_new_sorts_and_filters_use_a_btree_index(big_user, filters, sort, index):
    explained = plan(big_user, page(filters, sort))
    assert "Seq Scan" not in explained, explained
    assert index in explained, explained
