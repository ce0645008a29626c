"""The ceiling: a bare aiohttp handler that parses the webhook JSON and answers 200.

Run: python bench/ceiling.py PORT
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    return web.json_response({"alerts": len(body["alerts"])})


def main() -> None:
    app = web.Application()
    app.router.add_post("/webhook", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
