"""Our side of each provider's protocol: how its notifications are authenticated and what
they say, as its documentation requires. No I/O here: a connector is handed the request
(headers and raw bytes) and what we trust (keys, certificates, ids) and returns the
`GatewayEvent`, or raises InvalidSignature / InvalidWebhookPayload and nothing changes.

The transport (opening a checkout, refunding, asking about a payment) is elsewhere: today
the sandbox's (sandbox/gateway.py); a real connector replaces that and keeps this.
"""
