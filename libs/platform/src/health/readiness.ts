import { withTimeout } from '../concurrency/timeout.js';

/**
 * What a service needs before it takes traffic: each component registers a named
 * check (Kafka producer connected, consumer joined, database answering, view caught up).
 */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  async evaluate(timeoutMs = 2_000): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const results: Record<string, boolean> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        results[name] = await withTimeout(Promise.resolve().then(check), timeoutMs).catch(
          () => false,
        );
      }),
    );
    return {
      ready: this.checks.size > 0 && Object.values(results).every(Boolean),
      checks: results,
    };
  }
}
