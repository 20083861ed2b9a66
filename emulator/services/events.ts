import { randomUUID } from 'node:crypto';
import { ApiError } from '../errors.ts';
import { arr, type JsonService, nestsTooDeep, str } from './json.ts';

/** An event as EventBridge delivers it to a target, kept for tests, the demo and the CLI to read. */
export interface StoredEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
  /** Not part of the envelope: the bus it was put on. */
  bus: string;
}

const MAX_ENTRY_BYTES = 256 * 1024;

/**
 * EventBridge PutEvents on any bus name (the emulator keeps no bus list). Entries are checked as
 * EventBridge checks them: a bad entry fails alone, with its ErrorCode, and the others go through.
 */
export const eventsService: JsonService = {
  prefix: 'AWSEvents',
  contentType: 'application/x-amz-json-1.1',
  operations: {
    PutEvents({ account, region, world, input }) {
      const entries = arr(input, 'Entries');
      if (entries.length < 1 || entries.length > 10) {
        throw new ApiError('ValidationException', `Entries must hold 1 to 10 entries, not ${entries.length}`);
      }
      // Every entry's members are read (a member of the wrong type refuses the whole request)
      // before any event is stored, so that a refused request stores none.
      const checked = entries.map((raw) => {
        const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
        const source = str(entry, 'Source');
        const detailType = str(entry, 'DetailType');
        const detailText = str(entry, 'Detail');
        const bus = str(entry, 'EventBusName') ?? 'default';
        const resources = arr(entry, 'Resources').filter((r): r is string => typeof r === 'string');
        const problem = !source
          ? 'Parameter Source is not valid. Reason: Source is a required argument.'
          : !detailType
            ? 'Parameter DetailType is not valid. Reason: DetailType is a required argument.'
            : !detailText
              ? 'Parameter Detail is not valid. Reason: Detail is a required argument.'
              : Buffer.byteLength(JSON.stringify(entry)) > MAX_ENTRY_BYTES
                ? 'Entry exceeds the 256 KB limit.'
                : undefined;
        let detail: unknown;
        // EventBridge processes JSON only up to 1000 levels deep: a deeper Detail is malformed.
        if (!problem && !nestsTooDeep(detailText as string)) {
          try {
            detail = JSON.parse(detailText as string);
          } catch {
            detail = undefined;
          }
        }
        // A missing member is InvalidArgument; a Detail that is not a JSON object is MalformedDetail
        // ("The JSON provided is not valid", API_PutEventsResultEntry), "Detail is malformed." as AWS words it.
        if (problem) return { error: { ErrorCode: 'InvalidArgument', ErrorMessage: problem } } as const;
        if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
          return { error: { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' } } as const;
        }
        return {
          event: {
            source: source as string,
            detailType: detailType as string,
            detail,
            bus: bus.includes(':event-bus/') ? bus.slice(bus.lastIndexOf('/') + 1) : bus,
            resources,
          },
        } as const;
      });
      let failed = 0;
      const results = checked.map((result) => {
        if (result.error !== undefined) {
          failed++;
          return result.error;
        }
        const { event } = result;
        const id = randomUUID();
        world.events.push({
          version: '0',
          id,
          'detail-type': event.detailType,
          source: event.source,
          account,
          time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          region,
          resources: event.resources,
          detail: event.detail,
          bus: event.bus,
        });
        return { EventId: id };
      });
      return { FailedEntryCount: failed, Entries: results };
    },
  },
};
