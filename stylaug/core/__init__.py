"""Ground every stage stands on: what decides reuse (identity), atomic files (io), the Lightning
trainer and logger (runtime), statistics, resumable training, cost accounting, and where the
configs are. It knows no stage."""
