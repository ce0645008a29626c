"""On-call e-mail: the page's rendering, the SMTP session pool, and the notifier."""

from lumen_bridge.notifiers.email.notifier import EmailNotifier
from lumen_bridge.notifiers.email.render import check_templates

__all__ = ["EmailNotifier", "check_templates"]
