"""The delivery state table: the only moves, and what duplicates and late events do."""

from __future__ import annotations

import pytest

from worker.core.delivery_states import TABLE, State, can_transition, sources_of

FEEDBACK = (State.DELIVERED, State.BOUNCED, State.COMPLAINED)


def _ignored(current: str, target: str) -> bool:
    """A legal event that leaves the state as it is (not a bug)."""
    return (State(current), State(target)) in TABLE and not can_transition(current, target)


def test_every_state_can_be_reached_from_building() -> None:
    reached, frontier = {State.BUILDING}, [State.BUILDING]
    while frontier:
        current = frontier.pop()
        for (source, target), move in TABLE.items():
            if source == current and move.apply and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_every_move_says_why_in_one_line() -> None:
    for pair, move in TABLE.items():
        assert move.why and "\n" not in move.why and len(move.why) <= 90, pair


def test_only_a_queued_delivery_can_be_claimed_for_sending() -> None:
    assert sources_of("sending") == ("queued",)


def test_a_send_ends_sent_requeued_paused_failed_suppressed_or_empty() -> None:
    ends = {target for (source, target), move in TABLE.items() if source == State.SENDING}
    assert {State.SENT, State.QUEUED, State.PAUSED, State.FAILED, State.SUPPRESSED} <= ends


def test_a_paused_delivery_goes_back_to_the_queue_before_it_is_sent_again() -> None:
    assert can_transition("paused", "queued")
    assert not can_transition("paused", "sending")
    assert not can_transition("paused", "sent")


@pytest.mark.parametrize("state", list(FEEDBACK))
def test_a_duplicate_feedback_event_is_known_and_changes_nothing(state: State) -> None:
    assert _ignored(state, state)


def test_a_late_delivery_notice_never_undoes_a_bounce_or_a_complaint() -> None:
    assert _ignored("bounced", "delivered")
    assert _ignored("complained", "delivered")
    assert _ignored("complained", "bounced")


def test_a_complaint_or_bounce_after_delivery_wins() -> None:
    assert can_transition("delivered", "complained")
    assert can_transition("delivered", "bounced")


def test_feedback_may_overtake_the_record_of_the_send() -> None:
    for state in FEEDBACK:
        assert can_transition("sending", state)


def test_feedback_proves_a_failed_timed_out_send_went_out_after_all() -> None:
    assert sources_of("delivered") == ("sending", "sent", "failed")


@pytest.mark.parametrize(
    ("current", "target"),
    [("sent", "queued"), ("failed", "queued"), ("suppressed", "sending"), ("empty", "queued")],
)
def test_a_move_backwards_is_a_bug_not_an_event(current: str, target: str) -> None:
    assert (State(current), State(target)) not in TABLE
    assert not can_transition(current, target)
    assert current not in sources_of(target)


def test_unknown_state_names_are_refused() -> None:
    with pytest.raises(ValueError):
        can_transition("lost", "sent")
    with pytest.raises(ValueError):
        sources_of("lost")


def test_a_send_event_settles_a_send_whose_worker_stopped_before_recording_it() -> None:
    assert set(sources_of("sent")) == {"sending", "queued", "failed"}
    assert _ignored("delivered", "sent")
    assert _ignored("complained", "sent")
