"""Evolve: production failures, looked at as trends, become tomorrow's test cases."""
