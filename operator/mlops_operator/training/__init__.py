"""What runs inside the profile and training Job pods (`mlops-operator profile|train`)."""
