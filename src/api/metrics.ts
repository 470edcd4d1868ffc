/**
 * Prometheus metrics of the local API, recorded by a grpc-js server interceptor so that every
 * registered method counts (health and reflection included) without each handler doing it:
 *
 * - alliance_local_requests_total{service,method,code}: calls by final status name ("OK",
 *   "INVALID_ARGUMENT", ...). A call that ends without a status from a handler or adapter is
 *   counted as CANCELLED: the client went away, or grpc-js refused the call itself before any
 *   handler ran (an oversized request: grpc-js answers RESOURCE_EXHAUSTED out of the
 *   interceptors' sight).
 * - alliance_local_request_duration_seconds{service,method}: latency of unary calls only;
 *   a stream's lifetime is not a latency.
 */
import { status, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';

type RequestLabels = 'service' | 'method' | 'code';
type DurationLabels = 'service' | 'method';

export interface LocalApiMetrics {
  requests: Counter<RequestLabels>;
  durationSeconds: Histogram<DurationLabels>;
}

export const requestsMetricName = 'alliance_local_requests_total';
export const durationMetricName = 'alliance_local_request_duration_seconds';

/** Registers the metrics on `registry`, or reuses them if a previous server already did. */
export function createLocalApiMetrics(registry: Registry): LocalApiMetrics {
  const requests =
    (registry.getSingleMetric(requestsMetricName) as Counter<RequestLabels> | undefined) ??
    new Counter({
      name: requestsMetricName,
      help: 'Local gRPC API calls by service, method and final status code.',
      labelNames: ['service', 'method', 'code'],
      registers: [registry],
    });
  const durationSeconds =
    (registry.getSingleMetric(durationMetricName) as Histogram<DurationLabels> | undefined) ??
    new Histogram({
      name: durationMetricName,
      help: 'Latency of unary local gRPC API calls, from arrival to status.',
      labelNames: ['service', 'method'],
      // A local validation is ~0.25 ms of gRPC plus at most one signature check (TOOLCHAIN.md).
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
  return { requests, durationSeconds };
}

export function metricsInterceptor(metrics: LocalApiMetrics): ServerInterceptor {
  return (descriptor, call) => {
    // Paths are "/<package>.<Service>/<Method>"; only registered methods reach interceptors,
    // so label cardinality is bounded by the services the server registers.
    const [, service = 'unknown', method = 'unknown'] = descriptor.path.split('/');
    const isUnary = !descriptor.requestStream && !descriptor.responseStream;
    const stopTimer = isUnary ? metrics.durationSeconds.startTimer({ service, method }) : undefined;
    let isRecorded = false;
    const record = (code: status): void => {
      if (isRecorded) return;
      isRecorded = true;
      metrics.requests.inc({ service, method, code: status[code] });
      stopTimer?.();
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => record(status.CANCELLED) }),
      sendStatus: (grpcStatus, next) => {
        record(grpcStatus.code);
        next(grpcStatus);
      },
    });
  };
}
