"""The dead-letter queue: creating, editing, discarding and purging letters, and replaying
them on Celery in batches."""
