/**
 * Identity sources: the port between Alliance and a cloud's token-issuing backend (types.ts), and
 * its two implementations, `static` (built in) and `keystone` (a real Keystone).
 */
export type * from './types.js';

// The built-in identity source.
export * from './static/index.js';

// The Keystone identity source.
export * from './keystone/index.js';
