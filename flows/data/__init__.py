"""The sample dataset the flows ship, and the script that makes it."""
