"""What operators and monitors read: the dashboard's figures, /metrics, the health probes and
who may see their details, and the process-local Prometheus counters."""
