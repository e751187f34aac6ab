"""MySQL/MariaDB engine that follows a rotated password (``...django.mysql``)."""
