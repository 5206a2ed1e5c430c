import { Controller, Get, Global, Header, HttpCode, HttpException, Module } from '@nestjs/common';
import { collectDefaultMetrics, register } from 'prom-client';
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

/** `/health/live`, `/health/ready` and `/metrics` (Prometheus) for every service. */
@Global()
@Module({
  controllers: [HealthController, MetricsController],
  providers: [Readiness],
  exports: [Readiness],
})
export class HealthModule {
  constructor() {
    if (!defaultMetricsStarted) {
      collectDefaultMetrics({ prefix: 'hookpost_' });
      defaultMetricsStarted = true;
    }
  }
}
