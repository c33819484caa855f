"""mlops-operator: a Kubernetes-native MLOps operator built on Kopf."""

__version__ = "0.2.0"

GROUP = "mlops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
