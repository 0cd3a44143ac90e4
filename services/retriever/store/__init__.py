"""The Retriever's vector store: one interface (:mod:`.base`), :func:`.engines.open_store` to
open the configured engine, and the engines: :mod:`.edge` (Qdrant's engine in a child process,
the embedded default) and :mod:`.qdrant` (a Qdrant server, or Qdrant's local mode for folders it
already holds).

Nothing is imported here: the edge engine's child process imports this package, and should
load only qdrant-edge and the store's own types.
"""
