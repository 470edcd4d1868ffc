/**
 * The built-in (static) identity source: a small Keystone configured from the node's config file,
 * which issues and validates its own opaque and JWS tokens, for the demo and for clouds without a
 * Keystone. Operators enable and disable its users and projects through alliance.v1.IdentityAdmin.
 */
export {
  createStaticIdentity,
  staticIdentityLimits,
  type AccountEventHandOver,
  type ProjectEnabledResult,
  type ProvisionedProject,
  type ProvisionProjectInput,
  type StaticIdentity,
  type StaticIdentityDeps,
  type StaticIdentityOptions,
  type StaticProject,
  type StaticUser,
  type UserEnabledResult,
} from './static-identity.js';
