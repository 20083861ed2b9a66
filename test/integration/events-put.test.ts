import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { expect, test } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { send } from '../support/http.ts';

/**
 * PutEvents' per-entry refusals, through the SDK: API_PutEventsResultEntry documents
 * `InvalidArgument` ("A specified parameter is not valid") and `MalformedDetail` ("The JSON
 * provided is not valid"); AWS answers a Detail that is not a JSON object with the latter and the
 * message "Detail is malformed.", a missing member with the former.
 */

const env = useEmulator();
const ACCOUNT = '710000000001';

const events = () =>
  new EventBridgeClient({
    endpoint: env.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'test' },
  });

/** The events the emulator holds from a source, read through its view. */
async function storedFrom(source: string): Promise<{ id: string; detail: unknown }[]> {
  const view = await send(env.url, undefined, { method: 'GET', path: `/_emulator/events?source=${source}` });
  expect(view.status).toBe(200);
  return JSON.parse(view.body) as { id: string; detail: unknown }[];
}

test('a Detail that is not a JSON object fails its entry alone with MalformedDetail', async () => {
  const source = 'test.malformed';
  const details = ['{"ok":true}', 'not json', '{"a":', '[1,2]', '"text"', '42', 'null', 'true', '{"n":2}'];
  const out = await events().send(
    new PutEventsCommand({
      Entries: details.map((Detail) => ({ Source: source, DetailType: 'Test', Detail })),
    }),
  );
  expect(out.FailedEntryCount).toBe(7);
  const malformed = { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  expect(out.Entries?.slice(1, 8)).toEqual(Array.from({ length: 7 }, () => malformed));
  const ids = [out.Entries?.[0]?.EventId, out.Entries?.[8]?.EventId];
  expect(ids.every((id) => typeof id === 'string')).toBe(true);
  const stored = await storedFrom(source);
  expect(stored.map((e) => e.id)).toEqual(ids);
  expect(stored.map((e) => e.detail)).toEqual([{ ok: true }, { n: 2 }]);
});

test('a missing Source, DetailType or Detail is InvalidArgument, naming the member', async () => {
  const source = 'test.missing';
  const out = await events().send(
    new PutEventsCommand({
      Entries: [
        { DetailType: 'Test', Detail: '{}' },
        { Source: source, Detail: '{}' },
        { Source: source, DetailType: 'Test' },
        { Source: source, DetailType: 'Test', Detail: '' },
        { Source: source, DetailType: 'Test', Detail: '{}' },
      ],
    }),
  );
  expect(out.FailedEntryCount).toBe(4);
  const invalid = (member: string) => ({
    ErrorCode: 'InvalidArgument',
    ErrorMessage: `Parameter ${member} is not valid. Reason: ${member} is a required argument.`,
  });
  expect(out.Entries?.slice(0, 4)).toEqual([
    invalid('Source'),
    invalid('DetailType'),
    invalid('Detail'),
    invalid('Detail'),
  ]);
  expect(await storedFrom(source)).toHaveLength(1);
});
