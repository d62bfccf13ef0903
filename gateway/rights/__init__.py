"""What a customer can ask of the gateway: use-by dates, destruction, receipts, yearly notices.

Everything here is derived from what the access log holds (docs/CUSTOMER-RIGHTS-RECEIPTS.md),
never from a second bookkeeping.
"""
