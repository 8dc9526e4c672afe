"""Which scrubbing rules a service's reports get (the rules are resilience/core/scrubbing.py).

Read on the ingest path, so cached per process for SCRUB_SETTINGS_CACHE_SECONDS: an edit
in the admin applies at once in the process that saved it and within that time elsewhere.
With the database unreachable the last rules read stand, and with none the defaults: a
report is never stored less scrubbed because of an outage.
"""

from resilience import conf
from resilience.core.scrubbing import DEFAULT_SCRUBBER, Scrubber, field_names
from resilience.infra.ttl_cache import MISSING, TtlCache
from resilience.ingest.spool import DATABASE_DOWN
from resilience.models import AuditEvent, Service

SETTINGS_FIELDS = ("scrub_data", "scrub_sensitive_fields", "scrub_safe_fields")
_scrubbers = TtlCache(max_entries=10_000)


def scrubber_from(*, scrub_data: bool, scrub_sensitive_fields: str,
                  scrub_safe_fields: str) -> Scrubber:
    return Scrubber(enabled=scrub_data, sensitive_fields=field_names(scrub_sensitive_fields),
                    safe_fields=field_names(scrub_safe_fields))


def service_scrubber(service_id: int) -> Scrubber:
    ttl = conf.get("SCRUB_SETTINGS_CACHE_SECONDS")
    if ttl and (cached := _scrubbers.fresh(service_id)) is not MISSING:
        return cached
    try:
        row = (
            Service.objects.filter(pk=service_id)
            .values(*SETTINGS_FIELDS)
            .first()
        )
    except DATABASE_DOWN:
        known = _scrubbers.last_known(service_id)
        return DEFAULT_SCRUBBER if known is MISSING else known
    scrubber = DEFAULT_SCRUBBER if row is None else scrubber_from(**row)
    _scrubbers.put(service_id, scrubber, ttl=ttl)
    return scrubber


def scrubbing_settings(service: Service) -> dict:
    return {field: getattr(service, field) for field in SETTINGS_FIELDS}


def scrubbing_saved(*, service: Service, before: dict | None, actor, via: str = "admin") -> None:
    """After a service was saved: what changed in its scrubbing is audited (turning it off
    decides what gets stored in clear), and this process reads the settings again.
    `before` is None for a new service (compared with the defaults)."""
    before = before or {field: Service._meta.get_field(field).get_default()
                        for field in SETTINGS_FIELDS}
    after = scrubbing_settings(service)
    changed = {field: {"from": before[field], "to": after[field]}
               for field in SETTINGS_FIELDS if before[field] != after[field]}
    scrubbers_process_reset()
    if changed:
        AuditEvent.objects.create(actor=actor, via=via, action="service.scrubbing",
                                  target_type="service", target_id=str(service.pk),
                                  detail={"service": service.slug, "changed": changed})


def scrubbers_process_reset() -> None:
    """This process forgets every service's rules and reads them again when next needed."""
    _scrubbers.clear()
