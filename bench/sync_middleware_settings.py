"""An experiment for docs/performance.md, not a deployment setting: the project's settings with every
middleware declared sync-only, so that Django runs the whole middleware chain in one worker thread
instead of hopping between the event loop and a thread (sync_to_async) around each middleware.

    python -m bench --settings bench.sync_middleware_settings
"""

from nemid_app_backend.settings import *  # noqa: F403
from nemid_app_backend.settings import MIDDLEWARE as _PROJECT_MIDDLEWARE

_SYNC_ONLY = {
    "SecurityMiddleware",
    "SessionMiddleware",
    "CommonMiddleware",
    "CsrfViewMiddleware",
    "AuthenticationMiddleware",
    "MessageMiddleware",
    "XFrameOptionsMiddleware",
}
MIDDLEWARE = [
    f"bench.sync_middleware.{path.rsplit('.', 1)[1]}" if path.rsplit(".", 1)[1] in _SYNC_ONLY else path
    for path in _PROJECT_MIDDLEWARE
]
