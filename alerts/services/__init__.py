"""Alert services: evaluate.py (signals → Alert rows), delivery.py (send, retry, settle,
resend, test), content.py (what an alert says)."""
