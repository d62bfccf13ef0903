"""The hours a marketing contact may be made, as the customer's consent allows them.

정보통신망법 제50조 ③ and 시행령 제61조 ③: advertising sent between 21:00 and 08:00 the next
day needs the recipient's separate consent. A consent without the night flag therefore allows
08:00–21:00 KST only; with it, the whole day. Every release under a marketing purpose carries
its window, so the recipient (and the access record) knows when the customer may be contacted.
"""

from __future__ import annotations

DAYTIME = "08:00–21:00 KST"  # no night consent: 21:00–08:00 excluded
ALL_DAY = "00:00–24:00 KST"  # night consent (야간 수신 동의) given


def contact_window(night_contact: bool) -> str:
    return ALL_DAY if night_contact else DAYTIME


def narrowest(windows: list[str]) -> str | None:
    """The window every one of several consents allows (daytime unless all allow the night)."""
    if not windows:
        return None
    return ALL_DAY if all(w == ALL_DAY for w in windows) else DAYTIME
