"""Every condition type and Reason the operator writes, named once."""

# Condition types
READY = "Ready"
PROGRESSING = "Progressing"
ROLLED_BACK = "RolledBack"
DRIFTED = "Drifted"
VALIDATED = "Validated"
SUCCEEDED = "Succeeded"

# Generic
RECONCILED = "Reconciled"
INVALID_SPEC = "InvalidSpec"
INTERNAL_ERROR = "InternalError"
