"""MySQL/MariaDB engine whose password follows rotation: ``runsecrets.integrations.django.mysql``."""
