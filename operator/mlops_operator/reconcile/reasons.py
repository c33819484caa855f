"""Every condition type and Reason the operator writes, named once."""

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
