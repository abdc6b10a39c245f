"""A local App Engine Admin v1 + Cloud Logging v2 server for demos and tests."""
