"""Circuit breakers: the shared breaker in Redis, its database mirror, what a caller's circuit
says about an operation, idle expiry, and the reads the API and admin make of them."""
