export type { Faults } from './faults.ts';
export { type Emulator, type EmulatorOptions, startEmulator } from './server.ts';
