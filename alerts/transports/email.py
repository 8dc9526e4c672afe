"""Email through Django's mail backend (SMTP from EMAIL_URL in production).

The connection gets EMAIL_TIMEOUT, so a silent SMTP server cannot hold a worker. SMTP
replies are mapped as RFC 5321 means them: 4xx and a lost connection are temporary, 5xx
(recipient or sender refused, authentication failed) permanent.
"""

from __future__ import annotations

import smtplib
import time

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from alerts.formatting import AlertContent, email_body, email_subject
from alerts.transports import Sent, Transport, TransportError


class EmailTransport(Transport):
    def build(self, content: AlertContent) -> EmailMessage:
        return EmailMessage(
            subject=email_subject(content),
            body=email_body(content),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=self.channel.recipient_list(),
        )

    def send(self, message: EmailMessage, *, now: float) -> Sent:
        if not message.to:
            raise TransportError("no recipients", permanent=True)
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            connection = get_connection(fail_silently=False,
                                        timeout=getattr(settings, "EMAIL_TIMEOUT", None) or 10)
            message.connection = connection
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(f"recipients refused: {exc.recipients}", permanent=True,
                                 duration_ms=elapsed()) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, auth, data, …
            permanent = 500 <= exc.smtp_code < 600
            raise TransportError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                                 permanent=permanent, status_code=exc.smtp_code,
                                 duration_ms=elapsed()) from None
        except TimeoutError:
            raise TransportError("SMTP timed out", duration_ms=elapsed()) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, disconnected
            raise TransportError(f"SMTP connection failed: {exc}",
                                 duration_ms=elapsed()) from None
        return Sent(status_code=None, duration_ms=elapsed())
