"""The pure decisions: classification, grouping, strategy, backoff, the circuit state machine,
report validation and safe JSON. Standard library only (an import-linter contract holds it);
everything here takes its inputs, the clock included, as arguments."""
