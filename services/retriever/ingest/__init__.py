"""The ingestion CLI: parse guideline files, chunk them with the model's tokenizer, stream them to
the Retriever (``python -m services.retriever.ingest data/guidelines``)."""
