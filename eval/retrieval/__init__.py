"""Retrieval evaluation: the project's labelled question set and MedQuAD, searched through the
real ingestion CLI and ``Retriever.Search``, scored with Recall@k, MRR@10 and nDCG@10."""
