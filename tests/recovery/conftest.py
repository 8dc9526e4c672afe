from tests.campaigns.fixtures import (  # noqa: F401 - fixtures
    FakeBus,
    bus,
    bus_down,
    fake_bus,
    make_campaign,
    no_bus,
    restore_migrated_data,
    stream_prefix,
)
