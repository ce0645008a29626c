# lumen-bridge: slim, non-root, migrations applied at start.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lumen_bridge ./lumen_bridge
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/lumen-bridge --create-home lumen
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER lumen
WORKDIR /var/lib/lumen-bridge
ENV LUMEN_DATABASE_URL=sqlite+aiosqlite:////var/lib/lumen-bridge/lumen-bridge.db
EXPOSE 9095
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9095/healthz', timeout=2).status != 200)"]
# Listening on all interfaces requires LUMEN_ALERT_TOKEN and LUMEN_ADMIN_TOKEN.
CMD ["lumen-bridge", "serve", "--host", "0.0.0.0"]
