/** Free TCP ports on 127.0.0.1 (the same method as test/integration/harness.ts allocatePorts). */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Binds `count` listeners at once (so the ports are distinct), then releases them. */
export async function allocatePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
