"""A webhook receiver for trying Pushflow out: verifies each request and prints the event.

    python webhook_receiver.py --port 9000 --secret whsec_...

Answers 204 to a valid request, 400 to one whose signature does not verify (Pushflow retries
non-2xx answers, then dead-letters them).
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, HTTPServer

from verify_webhook import verify


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the app's whsec_ signing secret")
    args = parser.parse_args()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verify(args.secret, headers, body)
            except Exception as exc:  # any verification failure: refuse it
                print(f"REJECTED ({exc})", flush=True)
                self.send_response(400)
            else:
                print(json.dumps(event), flush=True)
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    HTTPServer(("127.0.0.1", args.port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
