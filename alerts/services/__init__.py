"""Alert services: evaluate.py (what each source found, as signals), raising.py (a signal →
Alert rows), delivery.py (send, retry, settle, resend, test), content.py (what an alert
says)."""
