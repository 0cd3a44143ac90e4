"""The briefing evaluation (issue 18): every synthetic patient briefed through the real stack and
scored against its expected findings (data/patients/expected/findings.json) by readable rules.

- lexicon.py, actions.py, text.py: the words, actions and numbers a sentence is read for;
- findings.py: the expected findings; patient.py: what the record says of a patient;
- statements.py: a briefing as statements; scoring.py and grounding.py: the rules;
- harness.py: the stack and the Brief calls; report.py: JSON, PNG and tables;
- ``python -m eval.briefings`` (``make eval-briefings``) runs it all.
"""
