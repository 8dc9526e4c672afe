"""Faultline's outbound calls (HTTP POSTs and Celery messages) through one seam, paced per
destination across every process."""
