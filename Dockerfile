# onair production image: one image, every entry point (see docker-entrypoint.sh).
#   docker build -t onair .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e ONAIR_SECRET_KEY=... -p 4000:4000 onair serve

# The Node major (package.json engines); moving to another is this one line.
ARG NODE_MAJOR=24

# --- deps: all dependencies and the generated Prisma client, from the package files and the
# Prisma schema only: a change of the sources rebuilds none of this.
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/prisma-generate.mjs scripts/
COPY prisma/schema.prisma prisma/
COPY prisma.config.ts ./
RUN npm ci --no-audit --no-fund && node scripts/prisma-generate.mjs

# --- build: the production JavaScript (npm run build: dist/, the Prisma client bundled in) and the
# operator console (dist/console: Vite and Svelte, its operations checked against the printed schema)
FROM deps AS build
COPY tsconfig.json ./
COPY scripts/build.mjs scripts/build-console.ts scripts/migrate.ts scripts/
COPY schema/schema.graphql schema/
COPY console ./console
COPY src ./src
RUN npm run build

# --- prod-deps: production dependencies only
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

# --- runtime: JavaScript and the console's built files only (no TypeScript, compilers, dev dependencies or tests); runs as `node`, which owns
# nothing here (the code is root's and read-only to it)
FROM node:${NODE_MAJOR}-bookworm-slim AS runtime
# ffmpeg: the sidecar's engine (and the tests' clips); nothing else of Debian's.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=4000
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
# package.json: "type": "module" makes dist/*.js ES modules.
COPY package.json ./
COPY prisma/migrations ./prisma/migrations
COPY --from=build /app/dist ./dist
COPY docker-entrypoint.sh /usr/local/bin/onair
# The one writable place: the defaults of MEDIA_VOLUME_DIR, MEDIA_STORE_DIR and SIDECAR_RUN_DIR (mount volumes there or elsewhere).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 4000
# serve and sidecar: /healthz where they listen; worker and migrate: running (see docker-entrypoint.sh).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["onair", "healthcheck"]
ENTRYPOINT ["onair"]
CMD ["serve"]
