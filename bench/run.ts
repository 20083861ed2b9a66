import { availableParallelism } from 'node:os';
import { benchEmulator, formatReport } from './emulator.ts';

/** `npm run bench`: every benchmark, each printing its table. Not part of `npm test`. */
console.log(`mirrorops benchmarks: node ${process.version}, ${availableParallelism()} CPUs\n`);
console.log(
  'Emulator: requests per second through @aws-sdk/client-ec2 over HTTP, emulator in its own process',
);
console.log(formatReport(await benchEmulator()));
