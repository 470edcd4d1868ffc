/**
 * The ceiling for the local-api benchmark: a bare grpc-js server with one unary method that
 * returns the request bytes unchanged (Buffer in, Buffer out, no protobuf, no interceptors),
 * plaintext on 127.0.0.1 and an ephemeral port. It prints `{"port":N}` on stdout once listening
 * and exits on SIGTERM. Whatever a real node costs above this is Alliance's own work per call.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { echoService } from './lib/echo-service.js';

const server = new Server();
server.addService(echoService, {
  echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
    callback(null, call.request);
  },
});
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`echo-server: cannot listen: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

const stop = (): void => server.tryShutdown(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
