"""Step scripts. Each runs stand-alone in its SageMaker container (none imports another)."""
