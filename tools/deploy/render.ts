import { writeFileSync } from 'node:fs';
import { ALERTS, MANIFESTS, renderAlerts, renderManifests } from './helm.ts';

/**
 * `npm run deploy:render`: regenerates what is rendered from the Helm chart and committed,
 * so that it can be used without Helm: the plain manifests (k8s/manifests/hookpost.yaml,
 * default values) and the Prometheus rule file (deploy/observability/alerts.yaml).
 * `npm test` fails when either differs from a fresh render.
 */
writeFileSync(MANIFESTS, await renderManifests());
process.stderr.write(`wrote ${MANIFESTS}\n`);
writeFileSync(ALERTS, await renderAlerts());
process.stderr.write(`wrote ${ALERTS}\n`);
