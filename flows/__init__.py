"""The team's Prefect flows: load-data, train-model and send-requests."""
