"""A demo task for lakeflow."""
