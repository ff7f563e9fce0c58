"""Reports: trivial-predictor floors, the results table with Δm, and pictures."""
