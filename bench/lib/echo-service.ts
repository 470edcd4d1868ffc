/** The echo service of bench/echo-server.ts: one unary method, raw bytes both ways. */
import type { ServiceDefinition } from '@grpc/grpc-js';

export const echoPath = '/alliance.bench.Echo/Echo';

const passthrough = (bytes: Buffer): Buffer => bytes;

export const echoService: ServiceDefinition = {
  echo: {
    path: echoPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};
