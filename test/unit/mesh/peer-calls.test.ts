/**
 * Unary peer calls: a question that one particular cloud must answer (e.g. "is this
 * opaque token yours?") goes to a node of that cloud, connected ones first, and an
 * answer, even an error, is final, while "could not ask" moves on to the next node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ValidateTokenResponse } from '../../../src/gen/alliance/v1/tokens.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { TestCluster, identity } from './mesh-harness.js';

let cluster: TestCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const answer = (userId: string) => ({
  result: ValidateTokenResponse.fromPartial({ valid: true, identity: { userId, originCloud: 'cloud-b' } }),
});

describe('a peer call', () => {
  it('reaches the handler of a node of the named cloud, which learns who called', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    const callers: string[] = [];
    b.mesh.handlePeerCall('validateToken', async (request, caller) => {
      callers.push(caller);
      return answer(`user-of-${request.token}`);
    });

    const response = await a.mesh.callCloud(
      'cloud-b',
      'validateToken',
      { token: 't1' },
      { timeoutMs: 1_000 },
    );
    expect(response.result?.identity?.userId).toBe('user-of-t1');
    expect(callers).toEqual(['cloud-a/n1']);
  });

  it('is UNAVAILABLE for a cloud no member record names', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    await expect(
      a.mesh.callCloud('cloud-z', 'validateToken', { token: 't' }, { timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'no node of cloud-z is known' });
  });

  it('is UNAVAILABLE when the cloud is known but cut off, so callers can say "could not find out"', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    b.mesh.handlePeerCall('validateToken', async () => answer('u'));
    cluster.network.partition([a.address], [b.address]);
    await expect(
      a.mesh.callCloud('cloud-b', 'validateToken', { token: 't' }, { timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('passes the answering node’s error on as the same code, without trying another node', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    b.mesh.handlePeerCall('validateToken', async () => {
      throw new AllianceError('PERMISSION_DENIED', 'not for you');
    });
    await expect(
      a.mesh.callCloud('cloud-b', 'validateToken', { token: 't' }, { timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: 'not for you' });
  });

  it('answers UNIMPLEMENTED for a method the node serves no handler for', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    await expect(
      a.mesh.callCloud('cloud-b', 'executeProvision', { request: Buffer.alloc(0) }, { timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ code: 'UNIMPLEMENTED' });
  });

  it('refuses a second handler for the same method', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    a.mesh.handlePeerCall('validateToken', async () => answer('u'));
    expect(() => a.mesh.handlePeerCall('validateToken', async () => answer('u'))).toThrow(
      'a handler for validateToken is already registered',
    );
  });
});
