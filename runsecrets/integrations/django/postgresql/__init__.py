"""PostgreSQL engine that follows a rotated password (``...django.postgresql``)."""
