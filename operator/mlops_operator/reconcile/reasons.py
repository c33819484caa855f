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

# Dataset
PROFILING = "Profiling"
PROFILED = "Profiled"
VALIDATION_FAILED = "ValidationFailed"
PROFILE_FAILED = "ProfileFailed"
RESULT_MISSING = "ResultMissing"

# TrainingJob
DATASET_NOT_FOUND = "DatasetNotFound"
DATASET_NOT_READY = "DatasetNotReady"
DATASET_VERSION_NOT_FOUND = "DatasetVersionNotFound"
INVALID_HYPERPARAMETERS = "InvalidHyperparameters"
TARGET_NOT_IN_SCHEMA = "TargetNotInSchema"
JOB_CREATED = "JobCreated"
TRAINING = "Training"
TRAINED = "Trained"
ACCEPTANCE_FAILED = "AcceptanceFailed"
TRAINER_ERROR = "TrainerError"
MODEL_REGISTERED = "ModelVersionRegistered"

# ModelVersion
VERIFIED = "Verified"
ARTIFACT_MISSING = "ArtifactMissing"
CHECKSUM_MISMATCH = "ChecksumMismatch"
LOAD_FAILED = "LoadFailed"
