# One image per app: docker build --build-arg APP=deliverer -t hookpost/deliverer .
# APP is one of subscription-api, event-ingest, matcher, deliverer.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY libs/contracts/package.json libs/contracts/
COPY libs/domain/package.json libs/domain/
COPY libs/platform/package.json libs/platform/
COPY libs/testing/package.json libs/testing/
RUN npm install --no-audit --no-fund
COPY . .
RUN npx nx run-many -t build --exclude=e2e,testing

FROM node:24-bookworm-slim AS runtime
ARG APP
# A fixed glibc mmap threshold keeps kafkajs's multi-MB fetch buffers out of the main heap,
# which they would otherwise fragment for good (see libs/testing/src/service-runtime.ts).
ENV NODE_ENV=production APP=${APP} MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --chown=node:node package.json package-lock.json ./
COPY --chown=node:node libs/contracts/package.json libs/contracts/
COPY --chown=node:node libs/domain/package.json libs/domain/
COPY --chown=node:node libs/platform/package.json libs/platform/
COPY --chown=node:node libs/testing/package.json libs/testing/
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build --chown=node:node /src/libs/contracts/dist libs/contracts/dist
COPY --from=build --chown=node:node /src/libs/contracts/proto libs/contracts/proto
COPY --from=build --chown=node:node /src/libs/domain/dist libs/domain/dist
COPY --from=build --chown=node:node /src/libs/platform/dist libs/platform/dist
COPY --from=build --chown=node:node /src/apps/${APP}/dist apps/${APP}/dist
USER node
# PORT defaults per app (3000 API, 3001 ingest, 3002 matcher, 3003 deliverer).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=process.env.PORT||{'subscription-api':3000,'event-ingest':3001,matcher:3002,deliverer:3003}[process.env.APP];fetch('http://127.0.0.1:'+p+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A young generation of 8 MB per semi-space: Node's larger default lets resident memory grow
# far past the live heap (the matcher's 100,000-subscription index: ~380 MB against ~160 MB).
# V8's helper threads sized to the cores the container may use, not a fixed four
# (libs/testing/src/service-runtime.ts). No allocation-site pretenuring: it put a
# delivery's short-lived objects straight into the old generation (the same file).
CMD ["sh", "-c", "exec node --max-semi-space-size=8 --v8-pool-size=0 --no-allocation-site-pretenuring apps/${APP}/dist/main.js"]
