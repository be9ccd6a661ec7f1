# syntax=docker/dockerfile:1
# Roster's image: Node 24 LTS, non-root, the SQLite database and import spool on the /data volume.
#   docker build -t roster .
#   docker run -p 8080:8080 -v roster-data:/data roster      (SQLite; the first admin key is on stderr)
# compose.yaml runs it on PostgreSQL and Redis. README.md, "Containers", says what was tried.

# The toolchain better-sqlite3 falls back to when no prebuilt binary matches (it compiles from source).
FROM node:24-slim AS toolchain
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

# Production dependencies only. --ignore-scripts skips the package's own `prepare` (a build,
# which needs the sources); better-sqlite3's install script is then run on its own.
FROM toolchain AS deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# The build: every dependency (TypeScript), then src/ compiled to dist/src/.
FROM toolchain AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build-info.mjs scripts/
COPY src/ src/
ARG ROSTER_BUILD_COMMIT=unknown
RUN npx tsc -p tsconfig.json \
 && ROSTER_BUILD_COMMIT=${ROSTER_BUILD_COMMIT} node scripts/build-info.mjs \
 && chmod 755 dist/src/cli.js

FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    ROSTER_ADMIN_HOST=0.0.0.0 \
    ROSTER_DATABASE_URL=/data/roster.db \
    ROSTER_IMPORT_DIR=/data/imports
WORKDIR /app
# The application files stay root's: the process (user node) can read them, not change them.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN ln -s /app/dist/src/cli.js /usr/local/bin/roster \
 && mkdir -p /data/imports \
 && chown -R node:node /data
USER node
VOLUME ["/data"]
# 8080: the API. 9464: /metrics (admin listener): scrape it from inside the network, never publish it.
EXPOSE 8080 9464
# /livez touches no dependency: a failing database makes /readyz fail, not the container unhealthy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/livez', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["serve"]
