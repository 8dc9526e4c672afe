import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules) lives as long as the process:
# moved out of the collector's sight, a full collection no longer walks those ~128,000
# objects each time a request's garbage sets one off (docs/performance.md, *Ingest*).
gc.freeze()
