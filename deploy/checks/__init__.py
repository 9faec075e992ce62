"""The money-conservation check across the four services (`python -m deploy.check`).

snapshot.py reads the databases (read-only); orders.py and ledger.py hold the rules;
audit.py applies them to a snapshot; report.py words what was found for support.
"""
