/**
 * The provisioning capability's execution of kind "project" through an asynchronous
 * ProjectProvisioner, between a requester and a target node sharing one in-memory topic: one run
 * per request at a time, a Deprovision that arrives mid-run done after it, failures as FAILED, and
 * a stop that aborts the run and leaves it for the next start. Waits are on onChange, not sleeps.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ProvisionState } from '../../../src/gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../../../src/gen/alliance/v1/provisioning.js';
import type {
  ProjectProvisionInput,
  ProjectProvisioner,
  ProvisionedProjectResult,
} from '../../../src/identity/types.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { MeshRecord, Topic } from '../../../src/mesh/index.js';
import { createProvisioning } from '../../../src/provisioning/index.js';
import type { Provisioning, ProvisioningDeps } from '../../../src/provisioning/index.js';

const S = ProvisionState;

/** One topic's records, shared by every node of the test, as if replication were instant. */
class SharedTopic {
  readonly records = new Map<string, MeshRecord>();
  private readonly listeners = new Set<(record: MeshRecord) => void>();
  private version = 0;

  meshOf(nodeId: string): ProvisioningDeps['mesh'] {
    return {
      registerTopic: ({ name }) => {
        const publish = (key: string, payload: Uint8Array, deleted = false): MeshRecord => {
          const record: MeshRecord = {
            origin: nodeId,
            topic: name,
            key,
            version: ++this.version,
            deleted,
            expiresAtMs: 0,
            createdAtMs: 0,
            payload,
          };
          this.records.set(`${nodeId} ${key}`, record);
          for (const listener of [...this.listeners]) listener(record);
          return record;
        };
        const topic: Topic = {
          name,
          publish: (key, payload) => publish(key, payload),
          publishMany: (entries) => entries.map((e) => publish(e.key, e.payload)),
          remove: (key) => publish(key, new Uint8Array(), true),
          get: (origin, key) => this.records.get(`${origin} ${key}`),
          list: () => [...this.records.values()].filter((r) => !r.deleted),
          onChange: (listener) => {
            this.listeners.add(listener);
            return () => this.listeners.delete(listener);
          },
        };
        return topic;
      },
    };
  }
}

interface Call {
  action: 'provision' | 'deprovision';
  input: { requestId: string; requesterCloud: string; signal?: AbortSignal };
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** A provisioner whose calls wait until the test settles them; an abort rejects them. */
class GatedProvisioner implements ProjectProvisioner {
  readonly calls: Call[] = [];
  private waiters: ((call: Call) => void)[] = [];

  provisionProject(input: ProjectProvisionInput): Promise<ProvisionedProjectResult> {
    return this.gate('provision', input) as Promise<ProvisionedProjectResult>;
  }

  deprovisionProject(input: Call['input']): Promise<boolean> {
    return this.gate('deprovision', input) as Promise<boolean>;
  }

  /** The call number `n` (0-based), once it has been made. */
  async call(n: number): Promise<Call> {
    while (this.calls.length <= n) await new Promise<Call>((resolve) => this.waiters.push(resolve));
    return this.calls[n]!;
  }

  private gate(action: Call['action'], input: Call['input']): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call = { action, input, resolve, reject };
      this.calls.push(call);
      input.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w(call);
    });
  }
}

const result = (input: { requestId: string }): ProvisionedProjectResult => ({
  projectId: `p-${input.requestId}`,
  name: 'alice-at-b',
  domainId: 'default',
  userId: 'shadow-1',
  remoteUserId: 'alice',
  role: 'member',
});

const spec = { name: 'alice-at-b', userId: 'alice', role: 'member' };

const clock = new ManualClock();
let running: Provisioning[] = [];

function node(shared: SharedTopic, nodeId: string, projects: ProjectProvisioner | null): Provisioning {
  const cloud = nodeId.split('/')[0]!;
  const p = createProvisioning(
    {
      mesh: shared.meshOf(nodeId),
      events: {
        publish: () => {
          throw new Error('no events in this test');
        },
        status: () => {
          throw new Error('no events in this test');
        },
        onChange: () => () => undefined,
        // Every cloud these tests name is known.
        expectations: () => new Map(['cloud-a', 'cloud-b', 'cloud-c'].map((c) => [c, []])),
      },
      projects,
      clock,
      log: silentLogger(),
    },
    { cloud, nodeId },
  );
  p.start();
  running.push(p);
  return p;
}

/** The requester's view once it is in `state`. */
function stateAt(at: Provisioning, requestId: string, state: ProvisionState): Promise<ProvisionRecord> {
  return new Promise((resolve) => {
    const check = () => {
      const record = at.get(requestId);
      if (record.state !== state) return false;
      stop();
      resolve(record);
      return true;
    };
    const stop = at.onChange(() => void check());
    check();
  });
}

/** Lets every queued microtask and promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

afterEach(async () => {
  for (const p of running) await p.stop();
  running = [];
});

describe('provisioning kind "project" through an asynchronous provisioner', () => {
  it('shows RUNNING while the provisioner works, then DONE with its result', async () => {
    const shared = new SharedTopic();
    const projects = new GatedProvisioner();
    const requester = node(shared, 'cloud-a/n1', null);
    node(shared, 'cloud-b/n1', projects);

    requester.provision({ targetCloud: 'cloud-b', requestId: 'r1', kind: 'project', spec });
    const call = await projects.call(0);
    expect(call.action).toBe('provision');
    expect(call.input).toMatchObject({
      requestId: 'r1',
      requesterCloud: 'cloud-a',
      name: 'alice-at-b',
      domainId: '',
      userId: 'alice',
      role: 'member',
    });
    expect(requester.get('r1').state).toBe(S.PROVISION_STATE_RUNNING);

    call.resolve(result(call.input));
    const done = await stateAt(requester, 'r1', S.PROVISION_STATE_DONE);
    expect(done.detail).toBe('project p-r1 created, role member assigned');
    expect(done.result).toEqual({ action: 'provision', ...result(call.input) });
    expect(projects.calls).toHaveLength(1);
  });

  it('starts no second run for a record that arrives mid-run, and does a Deprovision after the run', async () => {
    const shared = new SharedTopic();
    const projects = new GatedProvisioner();
    const requester = node(shared, 'cloud-a/n1', null);
    node(shared, 'cloud-b/n1', projects);

    requester.provision({ targetCloud: 'cloud-b', requestId: 'r2', kind: 'project', spec });
    const provision = await projects.call(0);
    requester.deprovision('r2');
    await settle();
    expect(projects.calls.map((c) => c.action)).toEqual(['provision']);

    provision.resolve(result(provision.input));
    const deprovision = await projects.call(1);
    expect(deprovision.action).toBe('deprovision');
    expect(deprovision.input).toMatchObject({ requestId: 'r2', requesterCloud: 'cloud-a' });
    deprovision.resolve(true);
    const gone = await stateAt(requester, 'r2', S.PROVISION_STATE_DEPROVISIONED);
    expect(gone.detail).toBe('project deleted');
    expect(gone.result).toEqual({ action: 'deprovision', deleted: true });
    await settle();
    expect(projects.calls).toHaveLength(2);
  });

  it("makes a provisioner's failure FAILED, with its message as the detail", async () => {
    const shared = new SharedTopic();
    const projects = new GatedProvisioner();
    const requester = node(shared, 'cloud-a/n1', null);
    node(shared, 'cloud-b/n1', projects);

    requester.provision({ targetCloud: 'cloud-b', requestId: 'r3', kind: 'project', spec });
    (await projects.call(0)).reject(
      new AllianceError('ALREADY_EXISTS', 'a project named "x" already exists'),
    );
    const failed = await stateAt(requester, 'r3', S.PROVISION_STATE_FAILED);
    expect(failed.detail).toBe('a project named "x" already exists');
    expect(failed.result).toEqual({ action: 'provision' });
  });

  it('aborts the run in progress at stop, leaving RUNNING, and the next start does it again', async () => {
    const shared = new SharedTopic();
    const projects = new GatedProvisioner();
    const requester = node(shared, 'cloud-a/n1', null);
    const target = node(shared, 'cloud-b/n1', projects);

    requester.provision({ targetCloud: 'cloud-b', requestId: 'r4', kind: 'project', spec });
    const first = await projects.call(0);
    await target.stop();
    expect(first.input.signal?.aborted).toBe(true);
    expect(requester.get('r4').state).toBe(S.PROVISION_STATE_RUNNING);

    const again = new GatedProvisioner();
    node(shared, 'cloud-b/n1', again);
    const second = await again.call(0);
    expect(second.input).toMatchObject({ requestId: 'r4', requesterCloud: 'cloud-a' });
    second.resolve(result(second.input));
    await stateAt(requester, 'r4', S.PROVISION_STATE_DONE);
  });

  it('answers FAILED, saying why, when the identity source cannot make projects', async () => {
    const shared = new SharedTopic();
    const requester = node(shared, 'cloud-a/n1', null);
    node(shared, 'cloud-b/n1', null);
    requester.provision({ targetCloud: 'cloud-b', requestId: 'r5', kind: 'project', spec });
    const failed = await stateAt(requester, 'r5', S.PROVISION_STATE_FAILED);
    expect(failed.detail).toBe('kind "project" is not supported by the identity source of cloud cloud-b');
  });

  it('refuses a target cloud no node has heard of, which would leave the request PENDING for ever', () => {
    const shared = new SharedTopic();
    const requester = node(shared, 'cloud-a/n1', null);
    expect(() =>
      requester.provision({ targetCloud: 'cloud-z', requestId: 'r6', kind: 'project', spec }),
    ).toThrow(
      expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/cloud-z/) }),
    );
    expect(() => requester.get('r6')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
