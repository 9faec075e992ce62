"""The short chaos run (deploy/chaos.py; `make chaos` is the long one): top-ups on the deployed
shape while its webs and workers are killed with SIGKILL and restarted, its database
connections terminated and its broker connections closed, and its sandbox gateways time out,
fail, answer slowly and send their notifications twice or late; then every order has ended,
money is conserved, one receipt per completed top-up was recorded and sent, nothing is
parked, nothing left in an outbox, and every provider's settlement report agrees with us."""

from __future__ import annotations

import pytest

from deploy.chaos import GATEWAY_FAULTS, BrokerCutter, run


@pytest.mark.timeout(300)
def test_top_ups_survive_killed_processes_and_cut_database_connections() -> None:
    result = run(n=45, rate=3, concurrency=8, kill_every=3, drop_every=5, settle=90, seed=7, cut_every=4,
                 gateway_faults=GATEWAY_FAULTS)
    print(result.render())
    assert len(result.kills) >= 3 and result.terminated > 0, "the faults happened"
    if BrokerCutter.available():  # a local broker: its connections were closed too
        assert result.broker_cuts, result.render()
    assert result.placed >= 40 and result.statuses["completed"] > 0
    assert result.unended == 0, result.render()
    assert result.money_problems == [], result.render()
    assert result.receipt_problems == [], result.render()
    assert result.parked == {}, result.render()
    assert not any(result.unpublished.values()), result.render()
    assert len(result.reconciled) >= 4 and result.reconciliation_problems == [], result.render()
