"""The clinical-briefing services.

gRPC's fork handlers are turned off in every process that imports this package, unless the
environment sets ``GRPC_ENABLE_FORK_SUPPORT`` itself. grpcio turns them on by default: at each
``fork()`` they try to pause gRPC's threads in the parent and re-initialise gRPC in the child.
The services fork only to exec another program (``initdb`` and ``pg_ctl`` for the embedded
PostgreSQL; they run as its system user, so Python forks rather than vforks), never a child that
uses gRPC: the edge engine's child is spawned. The handlers have nothing to do there, and a fork
while another thread is inside gRPC is the likely cause of a ``pg_ctl start`` that timed out
without starting PostgreSQL (once in CI). Set before ``grpc`` is imported, which reads it then.
"""

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
