"""Pure decisions: (resource, observed children, now) -> (desired children, status). No I/O."""
