"""Flows move only along their table, expire, and their diagrams beside the code match the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from servicekonto.domain import flows
from servicekonto.domain.flows import Flow, FlowExpired, FlowKind, FlowState, InvalidFlowTransition

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DIAGRAMS = Path(flows.__file__).resolve().parent / "flow_diagrams"


@pytest.mark.parametrize("kind", list(FlowKind))
def test_diagram_beside_the_code_matches_the_table(kind: FlowKind) -> None:
    assert (DIAGRAMS / f"{kind.value}.mermaid").read_text() == flows.mermaid(kind)


def test_registration_moves_along_its_table() -> None:
    flow = Flow.start(FlowKind.REGISTRATION, flow_id="f", now=NOW)
    assert flow.state is FlowState.CHOOSE_METHOD
    flow.advance(FlowState.AWAITING_VERIFICATION, now=NOW)
    flow.advance(FlowState.AWAITING_VERIFICATION, now=NOW)  # "send again"
    with pytest.raises(InvalidFlowTransition):
        flow.advance(FlowState.CHOOSE_METHOD, now=NOW)


def test_expired_flow_rejects_every_step() -> None:
    flow = Flow.start(FlowKind.LOGIN, flow_id="f", now=NOW)
    later = NOW + timedelta(minutes=31)
    with pytest.raises(FlowExpired):
        flow.advance(FlowState.AUTHENTICATED, now=later)
    with pytest.raises(FlowExpired):
        flow.require(FlowState.PASSWORD, now=later)


def test_final_states_lead_nowhere() -> None:
    for kind, table in flows.TRANSITIONS.items():
        finals = [state for state, targets in table.items() if not targets]
        assert finals, kind
        assert flows.INITIAL[kind] in table


def test_flows_survive_serialisation() -> None:
    flow = Flow.start(FlowKind.RECOVERY, flow_id="abc", now=NOW, data={"email": "erika@example.de"})
    again = Flow.from_json(flow.to_json())
    assert (again.kind, again.state, again.expires_at, again.data) == (flow.kind, flow.state, flow.expires_at,
                                                                       flow.data)
