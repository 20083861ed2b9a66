import type { Handler } from './context.ts';
import { endpointActions } from './endpoints.ts';
import { mirroringActions } from './mirroring.ts';
import { networkActions } from './network.ts';
import { topologyActions } from './topology.ts';

/** Every EC2 action the emulator answers, by its Query `Action` name. */
export const ec2Actions: Record<string, Handler> = {
  ...topologyActions,
  ...networkActions,
  ...mirroringActions,
  ...endpointActions,
};
