export {
  checkDeliveryKey,
  Delivery,
  type DeliveryAddress,
  parseDeliveryAddress,
  VXLAN_PORT,
} from './dataplane/delivery.ts';
export {
  type BucketName,
  type BucketRate,
  type Clock,
  checkFaults,
  EC2_RATES,
  type FaultInjector,
  type Faults,
} from './faults.ts';
export type { Organization } from './ram/state.ts';
export {
  checkLimits,
  checkOrganization,
  DEFAULT_ACCOUNT,
  DEFAULT_REGION,
  type Emulator,
  type EmulatorOptions,
  MAX_BODY_BYTES,
  startEmulator,
} from './server.ts';
export { type AccountLimits, AWS_ACCOUNT_LIMITS } from './state.ts';
