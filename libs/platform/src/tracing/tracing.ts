import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** One unit of traced work; `traceparent` goes on the Kafka messages it produces. */
export interface TraceSpan {
  readonly traceparent: string | undefined;
  setAttributes(attributes: Attributes): void;
  end(error?: string): void;
}

/**
 * OpenTelemetry traces across the pipeline: each service continues the trace named by a
 * message's `traceparent` header (W3C Trace Context) and hands its own span on in the
 * messages it produces, so one trace runs from ingest through matching to every attempt.
 * Spans are exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set;
 * otherwise the tracer records nothing but still passes the incoming `traceparent` on.
 */
export class Tracing {
  private readonly tracer: Tracer;

  private constructor(
    private readonly provider: TracerProvider | undefined,
    service: string,
  ) {
    this.tracer = provider ? provider.getTracer(service) : trace.getTracer(service);
  }

  static create(service: string, endpoint: string | undefined): Tracing {
    if (!endpoint) return new Tracing(undefined, service);
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
          scheduledDelayMillis: 1_000,
        }),
      ],
    });
    return new Tracing(provider, service);
  }

  /** Starts a span, as a child of `parent` (a `traceparent` header) when it is valid. */
  start(name: string, parent: string | undefined, attributes: Attributes = {}): TraceSpan {
    const match = parent ? TRACEPARENT.exec(parent) : null;
    const parentContext = match
      ? trace.setSpanContext(context.active(), {
          traceId: match[1]!,
          spanId: match[2]!,
          traceFlags: Number.parseInt(match[3]!, 16) & TraceFlags.SAMPLED,
          isRemote: true,
        })
      : context.active();
    const span = this.tracer.startSpan(
      name,
      { kind: SpanKind.CONSUMER, attributes },
      parentContext,
    );
    return wrap(span);
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

function wrap(span: Span): TraceSpan {
  const { traceId, spanId, traceFlags } = span.spanContext();
  const valid = trace.isSpanContextValid(span.spanContext());
  return {
    traceparent: valid
      ? `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`
      : undefined,
    setAttributes: (attributes) => span.setAttributes(attributes),
    end(error) {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    },
  };
}
