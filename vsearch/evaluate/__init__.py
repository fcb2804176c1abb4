"""Evaluation harness: suites (TOML) -> retrieval protocols and tag metrics -> reports -> regression gate.

Modules: `suite` (config), `protocols` + `synthetic` (retrieval), `distort` (synthetic phone views),
`tags` (tag metrics), `report` + `plots` (output), `compare` (baseline gate), `run` (orchestration).
"""
