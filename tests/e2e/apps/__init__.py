"""Programs the e2e scenarios run inside containers (given to ``python3 -c``)."""
