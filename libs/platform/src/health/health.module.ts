import { Controller, Get, Global, Header, HttpCode, HttpException, Module } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, register } from 'prom-client';
import { Readiness } from './readiness.js';

@Controller('health')
class HealthController {
  constructor(private readonly readiness: Readiness) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(): Promise<{ status: 'ready'; checks: Record<string, boolean> }> {
    const { ready, checks } = await this.readiness.evaluate();
    if (!ready) throw new HttpException({ status: 'not_ready', checks }, 503);
    return { status: 'ready', checks };
  }
}

@Controller()
class MetricsController {
  @Get('metrics')
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}

let defaultMetricsStarted = false;
/** The process's readiness, as the metrics below report it at each scrape. */
let scrapedReadiness: Readiness | undefined;

/** `/health/live`, `/health/ready` and `/metrics` (Prometheus) for every service. */
@Global()
@Module({
  controllers: [HealthController, MetricsController],
  providers: [Readiness],
  exports: [Readiness],
})
export class HealthModule {
  constructor(readiness: Readiness) {
    scrapedReadiness = readiness;
    if (!defaultMetricsStarted) {
      collectDefaultMetrics({ prefix: 'hookpost_' });
      eventLoopActiveSeconds();
      readinessMetrics();
      defaultMetricsStarted = true;
    }
  }
}

/**
 * Readiness in the metrics: a pod that runs but is not ready still answers scrapes, so
 * `up` alone does not show it (alert HookpostInstanceNotReady). Evaluated once per
 * scrape, for both gauges (the registry collects them side by side).
 */
function readinessMetrics(): void {
  let evaluation: { at: number; result: ReturnType<Readiness['evaluate']> } | undefined;
  const evaluate = () => {
    if (!evaluation || Date.now() - evaluation.at > 1_000)
      evaluation = { at: Date.now(), result: scrapedReadiness!.evaluate() };
    return evaluation.result;
  };
  new Gauge({
    name: 'hookpost_ready',
    help: 'Whether this process is ready (1: every readiness check passes)',
    async collect() {
      if (scrapedReadiness) this.set((await evaluate()).ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hookpost_readiness_check',
    help: 'Whether each readiness check of this process passes (1) or not (0)',
    labelNames: ['check'],
    async collect() {
      if (!scrapedReadiness) return;
      const { checks } = await evaluate();
      this.reset();
      for (const [check, ok] of Object.entries(checks)) this.set({ check }, ok ? 1 : 0);
    },
  });
}

/**
 * Time the event loop spent running code rather than waiting: its rate is the event-loop
 * utilisation (ELU), the share of a Node process's one thread in use. Near 1 the service
 * is saturated whatever its CPU share says (CPU also counts V8's and libuv's threads);
 * lag, the default metric, only shows once work already queues behind a busy loop.
 */
function eventLoopActiveSeconds(): void {
  let reported = 0;
  new Counter({
    name: 'hookpost_event_loop_active_seconds_total',
    help: 'Time the event loop was busy (its rate is the event-loop utilisation)',
    collect() {
      const active = performance.eventLoopUtilization().active / 1_000;
      this.inc(active - reported);
      reported = active;
    },
  });
}
