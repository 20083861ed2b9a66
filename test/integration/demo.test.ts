import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { readWithWireshark, type WiresharkFrame } from '../support/wireshark.ts';

/** `npm start` runs `mirrorops demo`: the real bin, in its own process, offline. */
test('the demo tells the whole story, its capture files hold what each session mirrored, and nothing is left', async () => {
  const out = await mkdtemp(join(tmpdir(), 'mirrorops-demo-test-'));
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done) => {
    execFile(
      resolve('node_modules/.bin/node'),
      [resolve('cli/bin.mjs'), 'demo', '--out', out],
      // No AWS settings from the developer's shell may leak in: the demo brings its own.
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, timeout: 120_000 },
      (error, out) => done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: out }),
    );
  });
  expect(code).toBe(0);
  const steps = stdout.split('\n== ').slice(1);
  const step = (start: string) => steps.find((s) => s.startsWith(start)) ?? '';
  expect(step('A security engineer tags')).toMatch(
    /-> tag-change\n.*\n\s+web-1\s+eni-\S+\s+20\s+tag\s+all traffic\s+7h 59m/,
  );
  expect(step('A second interface')).toMatch(/-> instance-launch/);
  expect(step('A second interface').match(/\s20\s+tag\s/g)).toHaveLength(2);
  const finding = step('GuardDuty: SSH brute force');
  expect(finding.match(/\s5\s+guardduty\s+198\.51\.100\.7\/32/g)).toHaveLength(2);
  expect(finding.match(/audit: Mirror Session Started/g)).toHaveLength(2);
  expect(step('GuardDuty: the same finding again')).toMatch(/Mirror Session Extended/);
  expect(step('GuardDuty: the same finding again')).not.toMatch(/Mirror Session Started/);
  expect(step('GuardDuty: a low-severity')).toMatch(/no rule matches: not delivered/);
  expect(step('GuardDuty: a finding on db-1')).toMatch(/Mirror Request Rejected\s+db-1.*c6i\.large/);
  const untag = step('The engineer removes the tag');
  expect(untag).not.toMatch(/\stag\s+all traffic/);
  expect(untag.match(/guardduty/g)).toHaveLength(2);
  expect(step('Time moves on')).toMatch(/removed 2 sessions and 2 filters\n\s+\(no mirror sessions\)/);
  expect(stdout).toMatch(
    /Demo finished in [\d.]+ s: 11 audit events, 13 packets captured in 2 files, nothing left mirrored\./,
  );

  // What the data plane did with each phase's traffic, as the demo says it.
  expect(step('A security engineer tags')).toMatch(
    /traffic on web-1: 6 packets .* -> mirrored 5 to session 20\n/,
  );
  expect(finding).toMatch(
    /\$ mirrorops explain --eni eni-\S+ --packet "tcp 198\.51\.100\.7:51002 > [\d.]+:22"/,
  );
  expect(finding).toMatch(
    /Mirrored by session tms-\S+ \(number 5, VNI \d+, target tmt-\S+\): ingress rule 10 accept/,
  );
  expect(finding).toMatch(/-> mirrored 3 to session 5, 2 to session 20\n/);
  expect(untag).toMatch(/-> mirrored 3 to session 5\n/);
  expect(step('Time moves on')).toMatch(/-> none mirrored\n/);
  const summary = step('The capture files, read back');
  expect(summary).toContain(out);
  expect(summary).toContain("the attacker: 6 packets in the incident session's file, 3 in the tag session's");
  expect(summary).toContain('sent after the sessions were stopped: 0');

  // The files themselves, read with Wireshark: one per session that received traffic, named after it.
  const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
    files: { file: string; vni: number; sessionId: string; reason: string; sessionNumber: number }[];
  };
  const pcaps = (await readdir(out)).filter((f) => f.endsWith('.pcap')).sort();
  expect(pcaps).toEqual(index.files.map((f) => f.file).sort());
  const byReason = new Map(index.files.map((f) => [f.reason, f]));
  const incident = byReason.get('guardduty');
  const tag = byReason.get('tag');
  expect(incident?.sessionNumber).toBe(5);
  expect(tag?.sessionNumber).toBe(20);
  for (const f of [incident, tag])
    expect(f?.file).toMatch(new RegExp(`^i-[0-9a-f]+_eni-[0-9a-f]+_${f?.sessionId}_${f?.vni}_1\\.pcap$`));
  /** Each frame as `SRC:PORT>DST:PORT LENGTH`. */
  const frames = async (file: string | undefined) => {
    const read = await readWithWireshark(join(out, file ?? 'missing'));
    expect(read.encapsulation).toMatch(/ethernet/i);
    return read.frames.map(
      (f: WiresharkFrame) =>
        `${f.fields.get('ip.src')}:${f.fields.get('tcp.srcport')}>${f.fields.get('ip.dst')}:${f.fields.get('tcp.dstport')} ${f.length}`,
    );
  };
  const web = /(10\.0\.0\.\d+):22>/.exec(
    (await frames(incident?.file)).find((f) => f.includes(':22>')) ?? '',
  )?.[1];
  // The incident session has the attacker's packets from the finding on (phases 2 and 3), and only them.
  expect(await frames(incident?.file)).toEqual(
    [51002, 51003].flatMap((port) => [
      `198.51.100.7:${port}>${web}:22 74`,
      `${web}:22>198.51.100.7:${port} 74`,
      `198.51.100.7:${port}>${web}:22 76`,
    ]),
  );
  // The tag session mirrors all traffic: the attacker before the finding, the client until the tag went.
  expect(await frames(tag?.file)).toEqual([
    `198.51.100.7:51001>${web}:22 74`,
    `${web}:22>198.51.100.7:51001 74`,
    `198.51.100.7:51001>${web}:22 76`,
    `203.0.113.25:40001>${web}:443 594`,
    `${web}:443>203.0.113.25:40001 1414`,
    `203.0.113.25:40002>${web}:443 594`,
    `${web}:443>203.0.113.25:40002 1414`,
  ]);
}, 180_000);
