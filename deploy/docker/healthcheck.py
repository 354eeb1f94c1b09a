"""The container's HEALTHCHECK: exit 0 when `signoff serve` answers /healthz, else 1.

The slim base image has no curl; this uses the standard library only and asks the port
`signoff serve` binds (SIGNOFF_PORT) on the container's own loopback interface.
"""

import os
import sys
import urllib.request

port = os.environ.get("SIGNOFF_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as exc:
    print(f"healthcheck: {exc}", file=sys.stderr)
    sys.exit(1)
