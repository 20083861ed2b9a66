import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Faults } from '../emulator/index.ts';

/**
 * The emulator in a worker thread of its own: its work on each request runs beside the client's,
 * on the machine's other core, as AWS's servers do, instead of in the client's event loop. A
 * critical path measured against it counts the client's own CPU (the SDK's signing and parsing, the
 * use case) and the round trips, not the emulator's handling.
 */
export interface EmulatorThread {
  url: string;
  setFaults(faults: Faults): Promise<void>;
  stop(): Promise<void>;
}

// The worker loads the emulator's TypeScript through tsx, as cli/bin.mjs does.
const WORKER = `
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
register();
const { startEmulator } = await import(${JSON.stringify(new URL('../emulator/index.ts', import.meta.url).href)});
const emulator = await startEmulator();
parentPort.on('message', async (message) => {
  if (message.faults) emulator.faults.set(message.faults);
  if (message.stop) await emulator.stop();
  parentPort.postMessage({ done: message.id });
});
parentPort.postMessage({ url: emulator.url });
`;

export async function startEmulatorThread(): Promise<EmulatorThread> {
  const worker = new Worker(WORKER, { eval: true, type: 'module' } as ConstructorParameters<
    typeof Worker
  >[1]);
  const [ready] = (await once(worker, 'message')) as [{ url: string }];
  let next = 0;
  const ask = async (message: Record<string, unknown>) => {
    const id = ++next;
    const answered = new Promise<void>((resolve) => {
      const listen = (reply: { done?: number }) => {
        if (reply.done !== id) return;
        worker.off('message', listen);
        resolve();
      };
      worker.on('message', listen);
    });
    worker.postMessage({ ...message, id });
    await answered;
  };
  return {
    url: ready.url,
    setFaults: (faults) => ask({ faults }),
    stop: async () => {
      await ask({ stop: true });
      await worker.terminate();
    },
  };
}
