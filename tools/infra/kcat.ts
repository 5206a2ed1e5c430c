import { spawnSync } from 'node:child_process';
import { ensureDebianPackage } from './system.ts';

/** kcat, the librdkafka command-line client the tests produce with (a client none of us wrote). */
export async function ensureKcat(): Promise<string> {
  ensureDebianPackage('kcat', 'kcat');
  return spawnSync('sh', ['-c', 'command -v kcat'], { encoding: 'utf8' }).stdout.trim();
}
