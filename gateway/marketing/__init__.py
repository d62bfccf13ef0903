"""Marketing under control: contact windows, the group-wide contact-stop registry (수신거부)."""
