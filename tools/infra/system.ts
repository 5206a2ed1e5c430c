import { spawnSync } from 'node:child_process';

export const ROOT = new URL('../../', import.meta.url).pathname;

export function say(message: string): void {
  process.stderr.write(`hookpost: ${message}\n`);
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

let aptUpdated = false;

/**
 * Makes `command` available, installing the Debian package that provides it when it is
 * missing and we may (root). Anything else gets an error naming what to install.
 */
export function ensureDebianPackage(command: string, pkg: string): void {
  if (onPath(command)) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error(`${command} is missing: install the Debian package ${pkg} (or its equivalent)`);
  }
  say(`installing ${pkg} from Debian's packages for ${command}`);
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  if (install()) return;
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'] });
    aptUpdated = true;
  }
  if (!install()) throw new Error(`could not install ${pkg} with apt-get`);
}
