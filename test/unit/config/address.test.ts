import { describe, expect, test } from 'vitest';
import {
  ConfigError,
  formatHostPort,
  formatListenAddress,
  isLoopbackHost,
  isUnspecifiedHost,
  parseHostPort,
  parseListenAddress,
} from '../../../src/config/load.js';

describe('parseListenAddress', () => {
  test.each([
    ['127.0.0.1:7700', { kind: 'tcp', host: '127.0.0.1', port: 7700 }],
    ['[::1]:7700', { kind: 'tcp', host: '::1', port: 7700 }],
    ['localhost:0', { kind: 'tcp', host: 'localhost', port: 0 }],
    ['node-1.cloud-a.example:65535', { kind: 'tcp', host: 'node-1.cloud-a.example', port: 65535 }],
    ['unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix:///tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix:run/x.sock', { kind: 'unix', path: 'run/x.sock' }],
  ])('parses %s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  test.each([
    ['7700', '"7700" has no port; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700'],
    [':7700', '":7700" has no host; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700'],
    ['127.0.0.1:65536', 'port "65536" is not a number from 0 to 65535'],
    ['127.0.0.1:-1', 'port "-1" is not a number from 0 to 65535'],
    ['127.0.0.1:', 'port "" is not a number from 0 to 65535'],
    ['300.0.0.1:7700', '"300.0.0.1" is not a valid IPv4 address'],
    ['::1:7700', '"::1:7700": an IPv6 host must be in brackets, as in [::1]:7700'],
    [
      '[::1]7700',
      '"[::1]7700" is not a valid address; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700',
    ],
    ['[127.0.0.1]:7700', '"127.0.0.1" in brackets is not an IPv6 address'],
    ['bad_host!:7700', '"bad_host!" is not a valid host name or IP address'],
    ['unix:', '"unix:" has no socket path'],
    ['unix://tmp/x.sock', '"unix://tmp/x.sock": use unix:/absolute/path or unix:relative/path'],
  ])('refuses %s, naming the key it was given', (text, message) => {
    let caught: unknown;
    try {
      parseListenAddress(text, '--address');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems).toEqual([{ key: '--address', message }]);
  });
});

describe('parseHostPort', () => {
  test('refuses a unix socket address', () => {
    expect(() => parseHostPort('unix:/tmp/x.sock', 'listen.peer')).toThrow(
      'invalid configuration (1 problem):\n' +
        'listen.peer: "unix:/tmp/x.sock": a unix socket is not allowed here; expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700',
    );
  });
});

describe('isLoopbackHost', () => {
  test.each([
    ['127.0.0.1', true],
    ['127.255.3.4', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::2', false],
    ['localhost.example', false],
    ['node.example', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('isUnspecifiedHost', () => {
  test('is true only for the every-interface addresses', () => {
    expect(
      ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', '127.0.0.1', 'localhost'].map(isUnspecifiedHost),
    ).toEqual([true, true, true, true, false, false]);
  });
});

describe('formatting', () => {
  test('puts IPv6 hosts in brackets and unix paths after unix:', () => {
    expect([
      formatHostPort('::1', 7701),
      formatHostPort('10.0.0.1', 7701),
      formatListenAddress({ kind: 'tcp', host: 'fe80::1', port: 0 }),
      formatListenAddress({ kind: 'unix', path: '/run/alliance.sock' }),
    ]).toEqual(['[::1]:7701', '10.0.0.1:7701', '[fe80::1]:0', 'unix:/run/alliance.sock']);
  });

  test('a formatted listen address parses back to itself', () => {
    for (const text of ['[::1]:7700', '127.0.0.1:0', 'unix:/tmp/a.sock']) {
      expect(formatListenAddress(parseListenAddress(text))).toBe(text);
    }
  });
});
