"""A TrainingJob's hyperparameter search: its space, its trials and its decisions."""
