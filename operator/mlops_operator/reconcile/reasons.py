"""Every condition Reason the operator writes, named once (condition types: `api.conditions`).

The Jobs' own reasons are here too: a profile or training Job reports one in its result, and
the operator writes it into the condition.
"""

# Dataset
PROFILING = "Profiling"
PROFILED = "Profiled"
VALIDATION_FAILED = "ValidationFailed"
PROFILE_FAILED = "ProfileFailed"
RESULT_MISSING = "ResultMissing"
# ... reported by the profile Job (InvalidInput: by the training Job too)
INVALID_INPUT = "InvalidInput"
SOURCE_UNREADABLE = "SourceUnreadable"
SCHEMA_MISMATCH = "SchemaMismatch"
PROFILER_ERROR = "ProfilerError"

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
TRAINER_ERROR = "TrainerError"  # also reported by the training Job
OOM_KILLED = "OOMKilled"  # the kubelet's reason for a Job's pod, passed on
MODEL_REGISTERED = "ModelVersionRegistered"
# The run could not be logged to / registered in the MLflow tracking server (training went on).
TRACKING_FAILED = "TrackingFailed"
# ... reported by a custom training container's collect step: what the trainer failed to leave
MODEL_MISSING = "ModelMissing"
SIGNATURE_INVALID = "SignatureInvalid"
METRICS_MISSING = "MetricsMissing"

# ModelVersion (the three failures: the reasons of the artifacts package's errors)
VERIFIED = "Verified"
ARTIFACT_MISSING = "ArtifactMissing"
CHECKSUM_MISMATCH = "ChecksumMismatch"
LOAD_FAILED = "LoadFailed"

# ModelDeployment
MODEL_VERSION_NOT_FOUND = "ModelVersionNotFound"
MODEL_VERSION_NOT_READY = "ModelVersionNotReady"
NO_ACCEPTED_VERSION = "NoAcceptedVersion"
ROLLOUT_STARTED = "RolloutStarted"
ROLLOUT_COMPLETE = "RolloutComplete"
ROLLOUT_ABORTED = "RolloutAborted"
ROLLED_BACK = "RolledBack"
NOT_ROLLED_BACK = "NotRolledBack"
INVALID_SPEC = "InvalidSpec"
ROLLOUT_FAILED = "RolloutFailed"
VERSION_HELD_BACK = "VersionHeldBack"
WAITING_FOR_REPLICAS = "WaitingForReplicas"
CANARY_STEP = "CanaryStep"
CANARY_PAUSED = "CanaryPaused"
CANARY_ANALYSIS = "CanaryAnalysis"
PROMOTING = "Promoting"
AVAILABLE = "Available"
UNAVAILABLE = "Unavailable"
# Why a rollout failed (FailedVersion.reason)
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
CRASH_LOOP = "CrashLoopBackOff"
POD_FAILED = "PodFailed"
ANALYSIS_FAILED = "AnalysisFailed"
ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"

# DriftMonitor
CHECKED = "Checked"
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT = "NoDrift"
DRIFT_RESOLVED = "DriftResolved"
INSUFFICIENT_SAMPLES = "InsufficientSamples"
DEPLOYMENT_NOT_FOUND = "DeploymentNotFound"
NOT_SERVING = "NotServing"
REFERENCE_NOT_FOUND = "ReferenceNotFound"
REFERENCE_NOT_READY = "ReferenceNotReady"
NO_PREVIOUS_VERSION = "NoPreviousVersion"
SAMPLES_UNREADABLE = "SamplesUnreadable"
FEATURES_NOT_FOUND = "FeaturesNotFound"
RETRAIN_TRIGGERED = "RetrainTriggered"
RETRAIN_SOURCE_NOT_FOUND = "RetrainSourceNotFound"
RETRAIN_FAILED = "RetrainFailed"
# DriftMonitor: model performance (predictions joined with ground truth)
PERFORMANCE_DEGRADED = "PerformanceDegraded"
PERFORMANCE_OK = "PerformanceOK"
PERFORMANCE_RECOVERED = "PerformanceRecovered"
INSUFFICIENT_LABELS = "InsufficientLabels"
LABELS_UNREADABLE = "LabelsUnreadable"
PERFORMANCE_UNKNOWN = "PerformanceUnknown"
NO_PRODUCTION_DATA = "NoProductionData"

# ModelDeployment: champion vs challenger
COMPARING = "Comparing"
CHALLENGER_WON = "ChallengerWon"
CHALLENGER_LOST = "ChallengerLost"
COMPARISON_FAILED = "ComparisonFailed"

# BatchPrediction
PREDICTING = "Predicting"
PREDICTED = "Predicted"
PREDICTION_FAILED = "PredictionFailed"  # also reported by a partition
PARTITION_RETRIED = "PartitionRetried"

# TrainingJob hyperparameter search.
INVALID_SEARCH_SPACE = "InvalidSearchSpace"
SEARCHING = "Searching"
TRIALS_STARTED = "TrialsStarted"
SEARCH_FINISHED = "SearchFinished"
NO_TRIAL_PASSED = "NoTrialPassed"

# The store's lifecycle (reconcile/storage/): retention, garbage collection, store health.
WINDOW_BEYOND_RETENTION = "WindowBeyondRetention"  # DriftMonitor WindowRetained=False
WINDOW_WITHIN_RETENTION = "WindowWithinRetention"
RETENTION_APPLIED = "RetentionApplied"  # Event on the ModelDeployment
GARBAGE_COLLECTED = "GarbageCollected"  # Event on the Namespace
GARBAGE_FOUND = "GarbageFound"  # dry run: what a sweep would remove
STORE_UNAVAILABLE = "StoreUnavailable"  # a Job that could not use the store (artifacts.errors)

# Tenant isolation (reconcile/confinement.py): a URI of another namespace's part of the store,
# or a path the operator does not allow (outside the store and its allowed prefixes).
OUTSIDE_NAMESPACE = "OutsideNamespace"
PATH_NOT_ALLOWED = "PathNotAllowed"
