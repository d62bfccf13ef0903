"""Customer rights: what the log says about one customer, with proofs (issue #11).

`history` answers 신용정보법 제35조 (who used or received the customer's credit information,
when and why, going back three years) from the per-customer index of the access log.
"""
