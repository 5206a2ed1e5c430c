import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * Preloaded into each service by `npm run bench:pipeline -- --profile` (`node --import`):
 * the first SIGUSR2 starts a CPU profile, the second writes it to
 * `$HOOKPOST_PROFILE/<service>.cpuprofile` (for Chrome DevTools or speedscope).
 * `--cpu-prof` would profile the whole life of the process and needs a clean exit; the
 * services end on SIGTERM.
 */
const dir = process.env.HOOKPOST_PROFILE;
const service = /apps\/([^/]+)\/dist/.exec(process.argv[1] ?? '')?.[1];

if (dir && service) {
  const file = `${dir}/${service}.cpuprofile`;
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on('SIGUSR2', () => {
    profiling = !profiling;
    const step = profiling
      ? session.post('Profiler.enable').then(() => session.post('Profiler.start'))
      : session
          .post('Profiler.stop')
          .then(({ profile }) => writeFileSync(file, JSON.stringify(profile)));
    step.catch((error: unknown) => process.stderr.write(`profile: ${String(error)}\n`));
  });
}
