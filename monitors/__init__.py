"""Cron monitors: scheduled jobs that report check-ins (Sentry Crons), and the alerts for
the runs that failed, never came or never finished."""
