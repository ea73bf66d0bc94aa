"""Signed webhooks: a user's endpoints hear their jobs' lives (created, started, completed,
failed, cancelled), signed the Standard Webhooks way, retried for about a day.

    enqueue     a transition hook: each change of a job writes one delivery per matching
                endpoint, in the transaction that records the change (none is ever lost)
    delivery    the dispatcher: sends due deliveries (httpx, in its own threads), records
                every try with the receiver's answer, schedules the next with back-off
    signing     secrets (``whsec_<base64>``) and the ``webhook-*`` headers
    addresses   which URLs may be called: never loopback, private, link-local, multicast
                or reserved addresses (SSRF), checked at registration and at every try
    service     register, list, delete endpoints; list deliveries
"""
