/**
 * Network addresses as they appear in configuration: `host:port` (IPv6 hosts in brackets,
 * `[::1]:7700`) and, for the local API only, `unix:/path/to.sock`. Hosts are kept without
 * brackets once parsed, as node:net and grpc-js want them for binding; `formatHostPort`
 * puts the brackets back for anything that is dialled or shown.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from './config-error.js';
import type { ListenAddress } from './types.js';

export interface HostPort {
  host: string;
  port: number;
}

/** What the non-throwing parsers return, so the schema can turn a failure into a problem. */
export type AddressResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Linux's `sun_path` holds 108 bytes including the terminating NUL. A longer path fails at
 * bind time with an error that does not say why, so it is refused at load time instead.
 */
export const unixSocketPathBytesMax = 107;

const unixPrefix = 'unix:';
// RFC 1123 labels; underscores are tolerated because internal DNS names use them in practice.
const hostnamePattern =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

const loopbackAddresses = new BlockList();
loopbackAddresses.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackAddresses.addAddress('::1', 'ipv6');

const unspecifiedAddresses = new BlockList();
unspecifiedAddresses.addAddress('0.0.0.0', 'ipv4');
unspecifiedAddresses.addAddress('::', 'ipv6');

/** Parses `host:port` or `[ipv6]:port`; port 0 ("any free port") is accepted. */
export function checkHostPort(text: string): AddressResult<HostPort> {
  const example = 'expected host:port, e.g. 127.0.0.1:7700 or [::1]:7700';
  let host: string;
  let portText: string;
  if (text.startsWith(unixPrefix))
    return fail(`${quote(text)}: a unix socket is not allowed here; ${example}`);
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':')
      return fail(`${quote(text)} is not a valid address; ${example}`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return fail(`${quote(host)} in brackets is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail(`${quote(text)} has no port; ${example}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      return fail(`${quote(text)}: an IPv6 host must be in brackets, as in [::1]:7700`);
    }
    if (host === '') return fail(`${quote(text)} has no host; ${example}`);
    if (/^[0-9.]+$/.test(host)) {
      if (!isIPv4(host)) return fail(`${quote(host)} is not a valid IPv4 address`);
    } else if (!hostnamePattern.test(host)) {
      return fail(`${quote(host)} is not a valid host name or IP address`);
    }
  }
  const port = parsePort(portText);
  if (port === undefined) return fail(`port ${quote(portText)} is not a number from 0 to 65535`);
  return { ok: true, value: { host, port } };
}

/** Parses a listen address: `host:port`, or `unix:/path` (also gRPC's `unix:///path`). */
export function checkListenAddress(text: string): AddressResult<ListenAddress> {
  if (text.startsWith(unixPrefix)) {
    let path = text.slice(unixPrefix.length);
    if (path.startsWith('//')) {
      path = path.slice(2);
      if (!path.startsWith('/')) return fail(`${quote(text)}: use unix:/absolute/path or unix:relative/path`);
    }
    if (path === '') return fail(`${quote(text)} has no socket path`);
    if (path.includes('\0')) return fail('a unix socket path cannot contain a NUL character');
    return { ok: true, value: { kind: 'unix', path } };
  }
  const parsed = checkHostPort(text);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { kind: 'tcp', ...parsed.value } };
}

/** Like checkHostPort, but throws a ConfigError naming `key` (a config key or a CLI flag). */
export function parseHostPort(text: string, key = 'address'): HostPort {
  return orThrow(checkHostPort(text), key);
}

/**
 * `'127.0.0.1:7700'`, `'[::1]:7700'` or `'unix:/tmp/x.sock'` → ListenAddress. A relative unix
 * path is returned as written; compileConfig resolves it against the config file's directory.
 */
export function parseListenAddress(text: string, key = 'address'): ListenAddress {
  return orThrow(checkListenAddress(text), key);
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped), or the name `localhost`. Brackets are allowed. */
export function isLoopbackHost(host: string): boolean {
  const bare = unbracket(host);
  const lower = bare.toLowerCase();
  if (lower === 'localhost' || lower === 'localhost.') return true;
  if (isIPv4(bare)) return loopbackAddresses.check(bare, 'ipv4');
  if (isIPv6(bare)) return loopbackAddresses.check(stripZone(bare), 'ipv6');
  return false;
}

/** 0.0.0.0 or :: — "every interface", which can be listened on but never dialled. */
export function isUnspecifiedHost(host: string): boolean {
  const bare = unbracket(host);
  if (isIPv4(bare)) return unspecifiedAddresses.check(bare, 'ipv4');
  if (isIPv6(bare)) return unspecifiedAddresses.check(stripZone(bare), 'ipv6');
  return false;
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The text form parseListenAddress accepts (and grpc-js binds): `host:port` or `unix:/path`. */
export function formatListenAddress(address: ListenAddress): string {
  return address.kind === 'unix'
    ? `${unixPrefix}${address.path}`
    : formatHostPort(address.host, address.port);
}

function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function stripZone(ipv6: string): string {
  const percent = ipv6.indexOf('%');
  return percent < 0 ? ipv6 : ipv6.slice(0, percent);
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

function orThrow<T>(result: AddressResult<T>, key: string): T {
  if (!result.ok) throw new ConfigError([{ key, message: result.message }]);
  return result.value;
}

function quote(text: string): string {
  return JSON.stringify(text);
}
