/**
 * `npm test` runs unit, integration and cluster tests; the end-to-end suite needs a real
 * Keystone and RabbitMQ and runs with `npm run test:e2e`. Say so at the end of every run,
 * so nobody mistakes a green `npm test` for an end-to-end pass.
 */
import { existsSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const installed = existsSync('/usr/bin/keystone-manage') && existsSync('/usr/sbin/rabbitmq-server');
    console.log(
      [
        '',
        'e2e suite not run by npm test (real Keystone + RabbitMQ): run `npm run test:e2e`.',
        installed
          ? '  Keystone and RabbitMQ are installed here; test:e2e brings the lab up itself.'
          : '  Keystone and RabbitMQ are not installed here; test:e2e installs them with apt-get (root, Debian).',
      ].join('\n'),
    );
  };
}
