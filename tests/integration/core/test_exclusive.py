"""One runner at a time: a second claim of the same work is refused at once, then free again."""

from __future__ import annotations

from worker.core.exclusive import exclusive
from worker.core.runtime import Runtime


def test_a_second_claim_is_refused_until_the_first_ends(runtime: Runtime) -> None:
    engine = runtime.engine
    with exclusive(engine, "work", 7) as first:
        with exclusive(engine, "work", 7) as second, exclusive(engine, "work", 8) as other:
            assert (first, second, other) == (True, False, True)
        with exclusive(engine, "other work", 7) as elsewhere:
            assert elsewhere
    with exclusive(engine, "work", 7) as again:
        assert again
