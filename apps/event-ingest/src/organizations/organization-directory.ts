import { organizationEventSchema, TOPICS, type OrganizationEvent } from '@hookpost/contracts';
import { KAFKA, LOGGER, Projection, Readiness, type Logger } from '@hookpost/platform';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { OrganizationDirectory } from '../normalize/normalize.js';
import { Organizations } from './organizations.js';

/**
 * Every organisation and its registered sending domains, learnt from subscription-api's
 * organisation events: how event-ingest tells a known tenant from an unknown one, and
 * routes events that name none by their sender's domain.
 */
@Injectable()
export class OrganizationDirectoryService
  implements OrganizationDirectory, OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly organizations = new Organizations();
  private readonly projection: Projection<OrganizationEvent>;

  constructor(@Inject(KAFKA) kafka: Kafka, @Inject(LOGGER) logger: Logger, readiness: Readiness) {
    this.projection = new Projection(
      kafka,
      {
        name: 'organization directory',
        service: 'event-ingest',
        topics: [TOPICS.organizationEvents],
        schema: organizationEventSchema,
      },
      logger,
      readiness,
    );
  }

  get loaded(): Promise<void> {
    return this.projection.loaded;
  }

  onApplicationBootstrap(): void {
    this.projection.start((event) => {
      if (event) this.organizations.apply(event);
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.projection.stop();
  }

  has(organizationId: string): boolean {
    return this.organizations.has(organizationId);
  }

  byDomain(domain: string): string | undefined {
    return this.organizations.byDomain(domain);
  }

  /**
   * An organisation created, or a domain registered, a moment ago may not have reached
   * this directory yet (it travels on another topic): read on to what that topic holds
   * now, briefly, before calling it unknown. The API answers a change once its event is on
   * the topic (unless Kafka is slower than its wait), so this finds an organisation or a
   * domain that exists, and costs one offsets request for one that does not: a stream of
   * unknown ones cannot hold up the messages around them.
   */
  async catchUp(timeoutMs = 2_000): Promise<void> {
    await this.projection.catchUpToNow(timeoutMs);
  }
}
