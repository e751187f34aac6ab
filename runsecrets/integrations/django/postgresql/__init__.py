"""PostgreSQL engine whose password follows rotation: ``runsecrets.integrations.django.postgresql``."""
