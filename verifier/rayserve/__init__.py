"""The verifier on a Ray cluster, through Ray Serve (the ``ray`` extra; nothing else imports this package)."""

from verifier.rayserve.deployment import REPLICA_HEADER, VerifierReplica, app_builder, build, deploy
from verifier.rayserve.handle import VerifierHandle

__all__ = ["REPLICA_HEADER", "VerifierHandle", "VerifierReplica", "app_builder", "build", "deploy"]
