/**
 * Brings the Keystone lab up once for the whole e2e run (unless ALLIANCE_E2E_LAB_DIR names a
 * running one) and hands it to every test file through that variable; takes it down at the end
 * if this run started it.
 */
import { bringUpKeystoneLab, tearDownKeystoneLab } from './keystone-lab.js';

export default async function setup(): Promise<() => Promise<void>> {
  const lab = await bringUpKeystoneLab();
  process.env['ALLIANCE_E2E_LAB_DIR'] = lab.dir;
  // Tests that disturb the lab (restarting RabbitMQ) run only on a lab this run owns.
  if (lab.startedHere) process.env['ALLIANCE_E2E_LAB_OWNED'] = '1';
  return () => tearDownKeystoneLab(lab);
}
