"""cmd5 finds plugins by walking packages: this must be a regular package."""
