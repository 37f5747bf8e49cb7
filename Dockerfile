# onair production image: one image, every entry point (see docker-entrypoint.sh).
#   docker build -t onair .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e ONAIR_SECRET_KEY=... -p 4000:4000 onair serve

# --- build: all dependencies, generated Prisma client, then production deps only
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/prisma-generate.mjs scripts/
COPY prisma/schema.prisma prisma/
COPY prisma.config.ts ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/prisma-generate.mjs && npm prune --omit=dev --no-audit --no-fund

# --- runtime: no compilers, no dev dependencies, not root
FROM node:20-bookworm-slim AS runtime
# ffmpeg: the sidecar's engine (and the tests' clips); nothing else of Debian's.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=4000
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/prisma/generated ./prisma/generated
COPY --chown=node:node package.json prisma.config.ts ./
COPY --chown=node:node prisma/migrations ./prisma/migrations
COPY --chown=node:node prisma/schema.prisma ./prisma/
COPY --chown=node:node src ./src
COPY --chown=node:node scripts/migrate.ts ./scripts/
COPY --chown=node:node docker-entrypoint.sh /usr/local/bin/onair
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["onair"]
CMD ["serve"]
