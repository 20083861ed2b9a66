import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidPatternError, matches, validatePattern } from '../../shared/domain/pattern.ts';

/**
 * 300 runs take well under a second; the time limit only bounds shrinking, which for a failure of
 * the `fc.gen`-built patterns can otherwise run for minutes.
 */
const RUNS = { numRuns: 300, interruptAfterTimeLimit: 20_000 };

// Events as the user guide prints them. Pages (docs.aws.amazon.com/eventbridge/latest/userguide/...):
//   syntax    = eb-create-pattern.html            operators = eb-create-pattern-operators.html
//   patterns  = eb-event-patterns.html            filtering = eb-event-patterns-content-based-filtering.html
//   arrays    = eb-event-patterns-arrays.html     nulls     = eb-event-patterns-null-values.html
//   ruler     = github.com/aws/event-ruler README (the matcher behind the pattern language)

/** syntax / patterns: the EC2 instance-termination event. */
const EC2_TERMINATED = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '111122223333',
  time: '2017-12-22T18:43:48Z',
  region: 'us-west-1',
  resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
  detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
};
const EC2_TERMINATION_PATTERN = {
  source: ['aws.ec2'],
  'detail-type': ['EC2 Instance State-change Notification'],
  detail: { state: ['terminated'] },
};

/** nulls / patterns "Field matching": the Auto Scaling launch event. */
const AUTOSCALING = {
  version: '0',
  id: '3e3c153a-8339-4e30-8c35-687ebef853fe',
  'detail-type': 'EC2 Instance Launch Successful',
  source: 'aws.autoscaling',
  account: '123456789012',
  time: '2015-11-11T21:31:47Z',
  region: 'us-east-1',
  resources: [],
  detail: { eventVersion: '', responseElements: null },
};

/** patterns "Value matching": the (truncated) Macie Classic alert. */
const MACIE = {
  version: '0',
  id: '3e355723-fca9-4de3-9fd7-154c289d6b59',
  'detail-type': 'Macie Alert',
  source: 'aws.macie',
  account: '123456789012',
  time: '2017-04-24T22:28:49Z',
  region: 'us-east-1',
  resources: [
    'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id/alert/alert_id',
    'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id',
  ],
  detail: {
    'notification-type': 'ALERT_CREATED',
    name: 'Scanning bucket policies',
    tags: ['Custom_Alert', 'Insider'],
    'risk-score': 80,
    trigger: {
      'rule-arn': 'arn:aws:macie:us-east-1:123456789012:trigger/trigger_id',
      'alert-type': 'basic',
      risk: 8,
    },
  },
};

/** ruler "Ruler by Example" / filtering "Complex example": the event the numeric examples are about. */
const RULER_EVENT = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};
const withDetail = (event: typeof RULER_EVENT, detail: Record<string, unknown>) => ({
  ...structuredClone(event),
  detail: { ...structuredClone(event.detail), ...detail },
});

/** A Tag Change on Resource event (AWS-FACTS.md shape): hyphenated keys and an array of keys. */
const TAG_CHANGE = {
  version: '0',
  id: 'ffd8a6fe-32f8-ef66-c85c-111111111111',
  'detail-type': 'Tag Change on Resource',
  source: 'aws.tag',
  account: '123456789012',
  time: '2018-09-18T20:41:38Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0'],
  detail: {
    'changed-tag-keys': ['mirrorops:mirror', 'Name'],
    service: 'ec2',
    'resource-type': 'instance',
    version: 5,
    tags: { 'mirrorops:mirror': '4h', Name: 'web-1' },
  },
};
const TAG_OPT_IN_PATTERN = {
  source: ['aws.tag'],
  'detail-type': ['Tag Change on Resource'],
  detail: {
    'changed-tag-keys': ['mirrorops:mirror'],
    service: ['ec2'],
    'resource-type': ['instance', 'network-interface'],
  },
};

/** ruler "JSON Array Matching": employees as an array of objects, and as nested arrays. */
const EMPLOYEES = {
  employees: [
    { firstName: 'John', lastName: 'Doe' },
    { firstName: 'Anna', lastName: 'Smith' },
    { firstName: 'Peter', lastName: 'Jones' },
  ],
};
const EMPLOYEES_NESTED = {
  employees: [
    [
      { firstName: 'John', lastName: 'Doe' },
      { firstName: 'Anna', lastName: 'Smith' },
    ],
    [{ firstName: 'Peter', lastName: 'Jones' }],
  ],
};

const CLOUDWATCH_OR = {
  source: ['aws.cloudwatch'],
  $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
};
const NESTED_OR = {
  source: ['aws.cloudwatch'],
  $or: [
    { metricName: ['CPUUtilization', 'ReadLatency'] },
    {
      metricType: ['MetricType'],
      namespace: ['AWS/EC2', 'AWS/ES'],
      $or: [{ metricId: [1234] }, { spaceId: [1000] }],
    },
    { scope: ['Service'] },
  ],
};
const DETAIL_OR = {
  detail: {
    $or: [
      { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] },
      { 'd-count': [{ numeric: ['<', 10] }] },
      { 'x-limit': [{ numeric: ['=', 3.018e2] }] },
    ],
  },
};

/** mirrorops' own GuardDuty rule (serverless.yml, minSeverity resolved to its default 4). */
const GUARDDUTY_PATTERN = {
  source: ['aws.guardduty'],
  'detail-type': ['GuardDuty Finding'],
  detail: { resource: { resourceType: ['Instance'] }, severity: [{ numeric: ['>=', 4] }] },
};
const finding = (severity: number, resourceType = 'Instance') => ({
  source: 'aws.guardduty',
  'detail-type': 'GuardDuty Finding',
  detail: { severity, type: 'UnauthorizedAccess:EC2/SSHBruteForce', resource: { resourceType } },
});

interface Row {
  /** The page and section the case comes from. */
  doc: string;
  pattern: unknown;
  event: unknown;
  expected: boolean;
}

const TABLE: Row[] = [
  // syntax, "Event pattern syntax": source, detail-type and detail.state must all match.
  {
    doc: 'syntax: instance-termination example',
    pattern: EC2_TERMINATION_PATTERN,
    event: EC2_TERMINATED,
    expected: true,
  },
  {
    doc: 'syntax: instance-termination example, another state',
    pattern: EC2_TERMINATION_PATTERN,
    event: { ...EC2_TERMINATED, detail: { ...EC2_TERMINATED.detail, state: 'running' } },
    expected: false,
  },
  // syntax: "EventBridge ignores all the other fields in the event".
  {
    doc: 'syntax: other fields are ignored',
    pattern: { source: ['aws.ec2'] },
    event: EC2_TERMINATED,
    expected: true,
  },
  // syntax: "the event must contain all the field names listed in the event pattern".
  {
    doc: 'syntax: every field named must be in the event',
    pattern: { source: ['aws.ec2'], detail: { 'availability-zone': ['us-west-1a'] } },
    event: EC2_TERMINATED,
    expected: false,
  },
  // syntax: "with the same nesting structure".
  {
    doc: 'syntax: same nesting structure',
    pattern: { state: ['terminated'] },
    event: EC2_TERMINATED,
    expected: false,
  },
  // syntax, "Matching event values": any value of the list.
  {
    doc: 'syntax: matching event values, first',
    pattern: { source: ['aws.ec2', 'aws.fargate'] },
    event: EC2_TERMINATED,
    expected: true,
  },
  {
    doc: 'syntax: matching event values, second',
    pattern: { source: ['aws.ec2', 'aws.fargate'] },
    event: { ...EC2_TERMINATED, source: 'aws.fargate' },
    expected: true,
  },
  {
    doc: 'syntax: matching event values, neither',
    pattern: { source: ['aws.ec2', 'aws.fargate'] },
    event: { ...EC2_TERMINATED, source: 'aws.s3' },
    expected: false,
  },
  // syntax: "exact character-by-character matching without case-folding".
  { doc: 'operators: Equals', pattern: { Name: ['Alice'] }, event: { Name: 'Alice' }, expected: true },
  {
    doc: 'operators: Equals is case-sensitive',
    pattern: { Name: ['Alice'] },
    event: { Name: 'alice' },
    expected: false,
  },
  // operators table, "And" / "Or" / "Null" / "Empty".
  {
    doc: 'operators: And',
    pattern: { Location: ['New York'], Day: ['Monday'] },
    event: { Location: 'New York', Day: 'Monday' },
    expected: true,
  },
  {
    doc: 'operators: And, one field differs',
    pattern: { Location: ['New York'], Day: ['Monday'] },
    event: { Location: 'New York', Day: 'Tuesday' },
    expected: false,
  },
  {
    doc: 'operators: Or (values of one field)',
    pattern: { PaymentType: ['Credit', 'Debit'] },
    event: { PaymentType: 'Debit' },
    expected: true,
  },
  { doc: 'operators: Null', pattern: { UserID: [null] }, event: { UserID: null }, expected: true },
  {
    doc: 'operators: Null is not a missing field',
    pattern: { UserID: [null] },
    event: { Name: 'Alice' },
    expected: false,
  },
  { doc: 'operators: Empty', pattern: { LastName: [''] }, event: { LastName: '' }, expected: true },
  // nulls: the two examples, and "null values and empty strings are not interchangeable".
  {
    doc: 'nulls: empty string',
    pattern: { detail: { eventVersion: [''] } },
    event: AUTOSCALING,
    expected: true,
  },
  {
    doc: 'nulls: null',
    pattern: { detail: { responseElements: [null] } },
    event: AUTOSCALING,
    expected: true,
  },
  {
    doc: 'nulls: null does not match ""',
    pattern: { detail: { eventVersion: [null] } },
    event: AUTOSCALING,
    expected: false,
  },
  {
    doc: 'nulls: "" does not match null',
    pattern: { detail: { responseElements: [''] } },
    event: AUTOSCALING,
    expected: false,
  },
  // patterns, "Field matching".
  {
    doc: 'patterns: field matching',
    pattern: {
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance Launch Successful'],
      detail: { responseElements: [null] },
    },
    event: AUTOSCALING,
    expected: true,
  },
  // patterns, "Value matching": numbers, nested objects.
  {
    doc: 'patterns: value matching',
    pattern: {
      source: ['aws.macie'],
      'detail-type': ['Macie Alert'],
      detail: { 'risk-score': [80], trigger: { risk: [8] } },
    },
    event: MACIE,
    expected: true,
  },
  {
    doc: 'patterns: value matching, nested value differs',
    pattern: { source: ['aws.macie'], detail: { 'risk-score': [80], trigger: { risk: [9] } } },
    event: MACIE,
    expected: false,
  },
  // syntax: values follow JSON rules; a number is not a string.
  {
    doc: 'syntax: JSON types, number vs string',
    pattern: { detail: { 'risk-score': ['80'] } },
    event: MACIE,
    expected: false,
  },
  {
    doc: 'syntax: JSON types, string vs number',
    pattern: { code: [80] },
    event: { code: '80' },
    expected: false,
  },
  {
    doc: 'syntax: JSON types, true vs "true"',
    pattern: { flag: [true] },
    event: { flag: 'true' },
    expected: false,
  },
  { doc: 'syntax: JSON types, boolean', pattern: { flag: [false] }, event: { flag: false }, expected: true },
  // arrays: "the event pattern matches if the intersection ... is non-empty".
  {
    doc: 'arrays: intersection of ARNs',
    pattern: {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
      ],
    },
    event: {
      resources: [
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      ],
    },
    expected: true,
  },
  {
    doc: 'arrays: empty intersection',
    pattern: { resources: ['arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f'] },
    event: { resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f'] },
    expected: false,
  },
  {
    doc: 'arrays: empty event array',
    pattern: { resources: ['arn:x'] },
    event: AUTOSCALING,
    expected: false,
  },
  {
    doc: 'arrays: a tag in the Macie tags',
    pattern: { detail: { tags: ['Insider'] } },
    event: MACIE,
    expected: true,
  },
  // arrays, on the Tag Change on Resource event: hyphenated keys, changed-tag-keys is a list.
  {
    doc: 'arrays: tag opt-in rule, our key changed',
    pattern: TAG_OPT_IN_PATTERN,
    event: TAG_CHANGE,
    expected: true,
  },
  {
    doc: 'arrays: tag opt-in rule, another key changed',
    pattern: TAG_OPT_IN_PATTERN,
    event: { ...TAG_CHANGE, detail: { ...TAG_CHANGE.detail, 'changed-tag-keys': ['Name'] } },
    expected: false,
  },
  // filtering, "Prefix matching" (and with equals-ignore-case).
  {
    doc: 'filtering: prefix matching',
    pattern: { time: [{ prefix: '2017-10-02' }] },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: prefix matching, another day',
    pattern: { time: [{ prefix: '2017-10-02' }] },
    event: { ...RULER_EVENT, time: '2017-10-03T16:24:49Z' },
    expected: false,
  },
  {
    doc: 'operators: Begins with',
    pattern: { Region: [{ prefix: 'us-' }] },
    event: { Region: 'us-east-1' },
    expected: true,
  },
  {
    doc: 'operators: Begins with, not',
    pattern: { Region: [{ prefix: 'us-' }] },
    event: { Region: 'eu-west-1' },
    expected: false,
  },
  {
    doc: 'filtering: prefix matching while ignoring case',
    pattern: { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
    event: { detail: { service: 'EVENTBRIDGE' } },
    expected: true,
  },
  {
    doc: 'operators: Begins with (ignore case), not',
    pattern: { service: [{ prefix: { 'equals-ignore-case': 'eventb' } }] },
    event: { service: 'Events' },
    expected: false,
  },
  // filtering, "Suffix matching" (and with equals-ignore-case).
  {
    doc: 'filtering: suffix matching',
    pattern: { FileName: [{ suffix: '.png' }] },
    event: { FileName: 'image.png' },
    expected: true,
  },
  {
    doc: 'filtering: suffix matching, not',
    pattern: { FileName: [{ suffix: '.png' }] },
    event: { FileName: 'image.PNG' },
    expected: false,
  },
  {
    doc: 'filtering: suffix matching while ignoring case',
    pattern: { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
    event: { detail: { FileName: 'IMAGE.PNG' } },
    expected: true,
  },
  {
    doc: 'operators: Ends with (ignore case)',
    pattern: { service: [{ suffix: { 'equals-ignore-case': 'tbridge' } }] },
    event: { service: 'EVENTBRIDGE' },
    expected: true,
  },
  // operators, "Equals (ignore case)".
  {
    doc: 'operators: Equals (ignore case)',
    pattern: { Name: [{ 'equals-ignore-case': 'alice' }] },
    event: { Name: 'ALICE' },
    expected: true,
  },
  {
    doc: 'operators: Equals (ignore case), not',
    pattern: { Name: [{ 'equals-ignore-case': 'alice' }] },
    event: { Name: 'Alicia' },
    expected: false,
  },
  // filtering, "Anything-but matching": a string, a number, lists of each, prefix.
  {
    doc: 'filtering: anything-but string',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: anything-but string, excluded',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: withDetail(RULER_EVENT, { state: 'initializing' }),
    expected: false,
  },
  {
    doc: 'filtering: anything-but number',
    pattern: { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: anything-but number, excluded',
    pattern: { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
    event: withDetail(RULER_EVENT, { 'x-limit': 123 }),
    expected: false,
  },
  {
    doc: 'filtering: anything-but list of strings',
    pattern: { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: anything-but list of strings, excluded',
    pattern: { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
    event: withDetail(RULER_EVENT, { state: 'overloaded' }),
    expected: false,
  },
  {
    doc: 'filtering: anything-but list of numbers',
    pattern: { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: anything-but list of numbers, excluded',
    pattern: { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
    event: withDetail(RULER_EVENT, { 'x-limit': 200 }),
    expected: false,
  },
  {
    doc: 'patterns: Not (anything-but)',
    pattern: { Weather: [{ 'anything-but': ['Raining'] }] },
    event: { Weather: 'Raining' },
    expected: false,
  },
  {
    doc: 'filtering: anything-but prefix',
    pattern: { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } },
    event: withDetail(RULER_EVENT, { state: 'initializing' }),
    expected: false,
  },
  {
    doc: 'operators: Anything-but (begins with)',
    pattern: { Region: [{ 'anything-but': { prefix: 'us-' } }] },
    event: { Region: 'eu-west-1' },
    expected: true,
  },
  {
    doc: 'operators: Anything-but (ends with)',
    pattern: { FileName: [{ 'anything-but': { suffix: '.png' } }] },
    event: { FileName: 'image.png' },
    expected: false,
  },
  {
    doc: 'operators: Anything-but (ends with), other extension',
    pattern: { FileName: [{ 'anything-but': { suffix: '.png' } }] },
    event: { FileName: 'notes.txt' },
    expected: true,
  },
  {
    doc: 'operators: Anything-but (ignore case)',
    pattern: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
    event: { state: 'INITIALIZING' },
    expected: false,
  },
  {
    doc: 'filtering: anything-but equals-ignore-case with a list',
    pattern: { state: [{ 'anything-but': { 'equals-ignore-case': ['initializing', 'stopped'] } }] },
    event: { state: 'Running' },
    expected: true,
  },
  {
    doc: 'operators: Anything-but using a wildcard',
    pattern: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
    event: { FilePath: '/usr/lib/libc.so' },
    expected: false,
  },
  {
    doc: 'operators: Anything-but using a wildcard, other path',
    pattern: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
    event: { FilePath: '/usr/bin/env' },
    expected: true,
  },
  // syntax: the event must contain every field named; anything-but needs a value to compare.
  {
    doc: 'syntax: anything-but on a missing field does not match',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: { detail: { 'instance-id': 'i-1' } },
    expected: false,
  },
  // ruler (ByteMachine): anything-but excludes only equal values of the same JSON type.
  {
    doc: 'ruler: anything-but a string does not exclude that number',
    pattern: { code: [{ 'anything-but': '80' }] },
    event: { code: 80 },
    expected: true,
  },
  {
    doc: 'ruler: anything-but a number does not exclude that string',
    pattern: { code: [{ 'anything-but': [80, 443] }] },
    event: { code: '443' },
    expected: true,
  },
  {
    doc: 'ruler: anything-but prefix lets a number through',
    pattern: { code: [{ 'anything-but': { prefix: '8' } }] },
    event: { code: 80 },
    expected: true,
  },
  // arrays + anything-but: any element that is not excluded is enough.
  {
    doc: 'arrays: anything-but against an array, one element not excluded',
    pattern: { state: [{ 'anything-but': ['stopped'] }] },
    event: { state: ['stopped', 'running'] },
    expected: true,
  },
  {
    doc: 'arrays: anything-but against an array, every element excluded',
    pattern: { state: [{ 'anything-but': ['stopped'] }] },
    event: { state: ['stopped', 'stopped'] },
    expected: false,
  },
  // operators: "Comparison operators only work on leaf nodes": an object is not a value.
  {
    doc: 'operators: anything-but on an object-valued field',
    pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
    event: { detail: { state: { name: 'running' } } },
    expected: false,
  },
  // filtering, "Numeric matching".
  {
    doc: 'filtering: numeric matching, all three',
    pattern: {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    },
    event: RULER_EVENT,
    expected: true,
  },
  {
    doc: 'filtering: numeric matching, above the upper bound',
    pattern: { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } },
    event: withDetail(RULER_EVENT, { 'c-count': 6 }),
    expected: false,
  },
  {
    doc: 'filtering: numeric matching, on the open lower bound',
    pattern: { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] } },
    event: withDetail(RULER_EVENT, { 'c-count': 0 }),
    expected: false,
  },
  {
    doc: 'operators: Numeric (equals)',
    pattern: { Price: [{ numeric: ['=', 100] }] },
    event: { Price: 100 },
    expected: true,
  },
  {
    doc: 'operators: Numeric (range), upper bound',
    pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
    event: { Price: 20 },
    expected: true,
  },
  {
    doc: 'operators: Numeric (range), lower bound',
    pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
    event: { Price: 10 },
    expected: false,
  },
  // filtering: "Numeric matching works with values that are JSON numbers".
  {
    doc: 'filtering: numeric does not match a string of digits',
    pattern: { detail: { 'c-count': [{ numeric: ['>', 0] }] } },
    event: withDetail(RULER_EVENT, { 'c-count': '5' }),
    expected: false,
  },
  // filtering: numeric matching is limited in range (±5e9 in event-ruler's ComparableNumber).
  {
    doc: 'filtering: numeric range limit',
    pattern: { n: [{ numeric: ['>', 0] }] },
    event: { n: 6e9 },
    expected: false,
  },
  // JSON.parse makes 3.018e2 and 301.8 one value; event-ruler adds a numeric-equals matcher for it.
  {
    doc: 'syntax: numbers compared as numbers',
    pattern: JSON.parse('{"x":[3.018e2]}'),
    event: JSON.parse('{"x":301.80}'),
    expected: true,
  },
  // serverless.yml's GuardDuty rule, numeric >= 4 (filtering, "Numeric matching").
  {
    doc: 'filtering: numeric >= on our GuardDuty rule',
    pattern: GUARDDUTY_PATTERN,
    event: finding(4),
    expected: true,
  },
  {
    doc: 'filtering: numeric >= on our GuardDuty rule, low severity',
    pattern: GUARDDUTY_PATTERN,
    event: finding(3.9),
    expected: false,
  },
  {
    doc: 'patterns: nested value on our GuardDuty rule, S3 resource',
    pattern: GUARDDUTY_PATTERN,
    event: finding(8, 'S3Bucket'),
    expected: false,
  },
  // filtering, "IP address matching": IPv4 and IPv6.
  {
    doc: 'filtering: IP address matching',
    pattern: { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
    event: { detail: { sourceIPAddress: '10.0.0.255' } },
    expected: true,
  },
  {
    doc: 'filtering: IP address matching, outside',
    pattern: { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
    event: { detail: { sourceIPAddress: '10.0.1.0' } },
    expected: false,
  },
  {
    doc: 'filtering: IP address matching, IPv6',
    pattern: { detail: { sourceIPAddress: [{ cidr: '2001:db8::/64' }] } },
    event: { detail: { sourceIPAddress: '2001:db8::1' } },
    expected: true,
  },
  {
    doc: 'filtering: IP address matching, IPv6 outside',
    pattern: { detail: { sourceIPAddress: [{ cidr: '2001:db8::/64' }] } },
    event: { detail: { sourceIPAddress: '2001:db8:0:1::1' } },
    expected: false,
  },
  {
    doc: 'filtering: IP address matching, not an address',
    pattern: { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/8' }] } },
    event: { detail: { sourceIPAddress: 'ec2.amazonaws.com' } },
    expected: false,
  },
  {
    doc: 'filtering: IP address matching, an IPv6 address is not in an IPv4 block',
    pattern: { detail: { sourceIPAddress: [{ cidr: '0.0.0.0/0' }] } },
    event: { detail: { sourceIPAddress: '2001:db8::1' } },
    expected: false,
  },
  {
    doc: 'filtering: IP address matching, an IPv4 address is not in an IPv6 block',
    pattern: { detail: { sourceIPAddress: [{ cidr: '::/0' }] } },
    event: { detail: { sourceIPAddress: '10.0.0.1' } },
    expected: false,
  },
  // filtering, "Exists matching": "only works on leaf nodes".
  {
    doc: 'filtering: exists true',
    pattern: { detail: { state: [{ exists: true }] } },
    event: { ...EC2_TERMINATED, detail: { 'instance-id': 'i-abcd1111', state: 'pending' } },
    expected: true,
  },
  {
    doc: 'filtering: exists true, field missing',
    pattern: { detail: { state: [{ exists: true }] } },
    event: { detail: { 'c-count': { c1: 100 } } },
    expected: false,
  },
  {
    doc: 'filtering: exists false',
    pattern: { detail: { 'c-count': [{ exists: false }] } },
    event: { detail: { state: ['initializing', 'running'] } },
    expected: true,
  },
  {
    doc: 'filtering: exists false matches an object, "c-count isn\'t a leaf node"',
    pattern: { detail: { 'c-count': [{ exists: false }] } },
    event: { detail: { state: ['initializing', 'running'], 'c-count': { c1: 100 } } },
    expected: true,
  },
  {
    doc: 'filtering: exists true does not match an object (not a leaf)',
    pattern: { detail: { 'c-count': [{ exists: true }] } },
    event: { detail: { 'c-count': { c1: 100 } } },
    expected: false,
  },
  {
    doc: 'operators: Does not exist, present',
    pattern: { ProductName: [{ exists: false }] },
    event: { ProductName: 'x' },
    expected: false,
  },
  {
    doc: 'filtering: exists true on an array of values',
    pattern: { tags: [{ exists: true }] },
    event: { tags: ['a'] },
    expected: true,
  },
  {
    doc: 'filtering: exists true on an empty array (no leaf)',
    pattern: { tags: [{ exists: true }] },
    event: { tags: [] },
    expected: false,
  },
  {
    doc: 'filtering: exists true on a null value (a leaf)',
    pattern: { UserID: [{ exists: true }] },
    event: { UserID: null },
    expected: true,
  },
  // operators, "Wildcard matching"; ruler "Wildcard matching".
  {
    doc: 'operators: Wildcard',
    pattern: { EventBusArn: [{ wildcard: '*:*:*:*:*:event-bus/*' }] },
    event: { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/myEventBus' },
    expected: true,
  },
  {
    doc: 'operators: Wildcard, rule not bus',
    pattern: { EventBusArn: [{ wildcard: '*:*:*:*:*:event-bus/*' }] },
    event: { EventBusArn: 'arn:aws:events:us-east-1:123456789012:rule/myRule' },
    expected: false,
  },
  {
    doc: 'ruler: wildcard matching',
    pattern: { source: [{ wildcard: 'Simple*Service' }] },
    event: { source: 'SimpleNotificationService' },
    expected: true,
  },
  {
    doc: 'ruler: wildcard matches an empty run',
    pattern: { source: [{ wildcard: 'Simple*Service' }] },
    event: { source: 'SimpleService' },
    expected: true,
  },
  {
    doc: 'ruler: wildcard is anchored',
    pattern: { source: [{ wildcard: 'Simple*Service' }] },
    event: { source: 'SimpleServices' },
    expected: false,
  },
  {
    doc: 'ruler: escaped asterisk is literal',
    pattern: { key: [{ wildcard: 'a\\*b' }] },
    event: { key: 'a*b' },
    expected: true,
  },
  {
    doc: 'ruler: escaped asterisk is not a wildcard',
    pattern: { key: [{ wildcard: 'a\\*b' }] },
    event: { key: 'axb' },
    expected: false,
  },
  {
    doc: 'ruler: escaped backslash',
    pattern: { key: [{ wildcard: 'dir\\\\*' }] },
    event: { key: 'dir\\file' },
    expected: true,
  },
  // ruler: prefix, suffix, equals-ignore-case, wildcard "only work on string-valued fields".
  {
    doc: 'filtering: prefix on a number',
    pattern: { code: [{ prefix: '8' }] },
    event: { code: 80 },
    expected: false,
  },
  {
    doc: 'ruler: equals-ignore-case on a boolean',
    pattern: { flag: [{ 'equals-ignore-case': 'TRUE' }] },
    event: { flag: true },
    expected: false,
  },
  // filtering, "Complex example with multiple matching" (+ cidr, as in ruler's complex example).
  {
    doc: 'filtering: complex example',
    pattern: {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
        'source-ip': [{ cidr: '10.0.0.0/8' }],
      },
    },
    event: RULER_EVENT,
    expected: true,
  },
  // filtering, note: "if you include a key more than once the last reference will be the one used".
  {
    doc: 'filtering: a repeated key, the last counts',
    pattern: JSON.parse('{"detail":{"location":[{"prefix":"us-"}],"location":[{"anything-but":"us-east"}]}}'),
    event: { detail: { location: 'eu-west' } },
    expected: true,
  },
  // operators, "Or" ($or): ruler, "The $or Primitive".
  {
    doc: 'operators: $or, second branch',
    pattern: DETAIL_OR,
    event: { detail: { 'c-count': 10, 'd-count': 3 } },
    expected: true,
  },
  {
    doc: 'operators: $or, no branch',
    pattern: DETAIL_OR,
    event: { detail: { 'c-count': 10, 'd-count': 20, 'x-limit': 5 } },
    expected: false,
  },
  {
    doc: 'ruler: $or with a sibling field',
    pattern: CLOUDWATCH_OR,
    event: { source: 'aws.cloudwatch', namespace: 'AWS/EC2' },
    expected: true,
  },
  {
    doc: 'ruler: $or with a sibling field that differs',
    pattern: CLOUDWATCH_OR,
    event: { source: 'aws.ec2', namespace: 'AWS/EC2' },
    expected: false,
  },
  {
    doc: 'ruler: nested $or and and',
    pattern: NESTED_OR,
    event: { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1000 },
    expected: true,
  },
  {
    doc: 'ruler: nested $or and and, inner $or unmet',
    pattern: NESTED_OR,
    event: { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1 },
    expected: false,
  },
  // ruler, "JSON Array Matching": arrays of objects, array-consistent.
  {
    doc: 'ruler: array of objects',
    pattern: { employees: { firstName: ['Anna'] } },
    event: EMPLOYEES,
    expected: true,
  },
  {
    doc: 'ruler: array of objects, fields of one element',
    pattern: { employees: { firstName: ['Anna'], lastName: ['Smith'] } },
    event: EMPLOYEES,
    expected: true,
  },
  {
    doc: 'ruler: array of objects, fields from different elements',
    pattern: { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
    event: EMPLOYEES,
    expected: false,
  },
  {
    doc: 'ruler: multi-level arrays',
    pattern: { employees: { firstName: ['Peter'] } },
    event: EMPLOYEES_NESTED,
    expected: true,
  },
  {
    doc: 'ruler: multi-level arrays, different elements',
    pattern: { employees: { firstName: ['John'], lastName: ['Jones'] } },
    event: EMPLOYEES_NESTED,
    expected: false,
  },
  {
    doc: 'ruler: exists false under an array of objects, present in one element',
    pattern: { employees: { middleName: [{ exists: false }] } },
    event: { employees: [{ firstName: 'Anna' }, { firstName: 'Ann', middleName: 'Lee' }] },
    expected: false,
  },
  {
    doc: 'ruler: exists false beside a value under an array of objects',
    pattern: { employees: { firstName: ['Anna'], middleName: [{ exists: false }] } },
    event: { employees: [{ firstName: 'Anna' }, { firstName: 'Ann', middleName: 'Lee' }] },
    expected: true,
  },
  // operators: "only work on leaf nodes": a pattern value list never matches an object or objects.
  {
    doc: 'operators: a value list against an object',
    pattern: { detail: { tags: ['a'] } },
    event: { detail: { tags: { a: 'x' } } },
    expected: false,
  },
  {
    doc: 'operators: a value list against an array of objects',
    pattern: { employees: ['Anna'] },
    event: EMPLOYEES,
    expected: false,
  },
  {
    doc: 'syntax: a nested pattern against a string',
    pattern: { detail: { state: { name: ['running'] } } },
    event: { detail: { state: 'running' } },
    expected: false,
  },
];

describe('the case table from AWS documentation', () => {
  it('has at least 60 rows and both outcomes', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(60);
    expect(TABLE.filter((r) => r.expected).length).toBeGreaterThan(20);
    expect(TABLE.filter((r) => !r.expected).length).toBeGreaterThan(20);
  });

  it.each(TABLE)('$doc -> $expected', ({ pattern, event, expected }) => {
    validatePattern(pattern);
    expect(matches(pattern, structuredClone(event))).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const KEYS = ['source', 'detail-type', 'detail', 'state', 'changed-tag-keys', 'a', 'b', 'Name'];
const key = fc.constantFrom(...KEYS);
const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('running', 'Running', 'us-east-1', '10.0.0.7', '2001:db8::1', 'a*b', 'c:\\dir', ''),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }),
  fc.boolean(),
  fc.constant(null),
);
const { json: jsonValue } = fc.letrec<{ json: Json; object: { [key: string]: Json } }>((tie) => ({
  json: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'event' },
    scalar,
    fc.array(scalar, { maxLength: 4 }),
    tie('object'),
    fc.array(tie('object'), { maxLength: 3 }),
  ),
  object: fc.dictionary(key, tie('json'), { maxKeys: 4, depthIdentifier: 'event' }),
}));
const eventObject = fc.dictionary(key, jsonValue, { minKeys: 1, maxKeys: 5 });

const isObject = (v: Json | undefined): v is { [key: string]: Json } =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const flat = (v: Json[]): Json[] => v.flatMap((e) => (Array.isArray(e) ? flat(e) : [e]));

type Gen = fc.GeneratorValue;
const flipAsciiCase = (g: Gen, s: string) =>
  Array.from(s, (c) =>
    /[a-z]/i.test(c) && g(fc.boolean) ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c,
  ).join('');
const escapeWildcard = (s: string) => s.replace(/[\\*]/g, '\\$&');

/** A condition that the leaf value satisfies, in one of the forms that apply to its type. */
function conditionFor(g: Gen, leaf: Json): Json {
  const forms: (() => Json)[] = [() => leaf, () => ({ exists: true })];
  if (typeof leaf === 'string') {
    const cut = g(fc.nat, { max: leaf.length });
    forms.push(
      () => ({ prefix: leaf.slice(0, cut) }),
      () => ({ suffix: leaf.slice(cut) }),
      () => ({ 'equals-ignore-case': flipAsciiCase(g, leaf) }),
      () => ({ prefix: { 'equals-ignore-case': flipAsciiCase(g, leaf.slice(0, cut)) } }),
      () => ({ suffix: { 'equals-ignore-case': flipAsciiCase(g, leaf.slice(cut)) } }),
      () => {
        const end = g(fc.integer, { min: cut, max: leaf.length });
        return { wildcard: `${escapeWildcard(leaf.slice(0, cut))}*${escapeWildcard(leaf.slice(end))}` };
      },
      () => ({ wildcard: escapeWildcard(leaf) }),
      () => ({ 'anything-but': `${leaf}-other` }),
      () => ({ 'anything-but': { prefix: `${leaf}-other` } }),
    );
  }
  // Numeric matching takes numbers within ±5e9 only (a double leaf may be a larger whole number).
  if (typeof leaf === 'number' && Number.isInteger(leaf) && Math.abs(leaf) < 5e9 - 2) {
    forms.push(
      () => ({ numeric: ['=', leaf] }),
      () => ({ numeric: ['>=', leaf] }),
      () => ({ numeric: ['>', leaf - 1, '<=', leaf] }),
      () => ({ 'anything-but': [leaf + 1, leaf + 2] }),
    );
  }
  return g(fc.constantFrom, ...forms)();
}

/** A pattern built from the object's own leaves (undefined when it has none to use). */
function patternFrom(g: Gen, object: { [key: string]: Json }): { [key: string]: Json } | undefined {
  const out: { [key: string]: Json } = {};
  for (const [k, value] of Object.entries(object)) {
    if (g(fc.integer, { min: 0, max: 4 }) === 0) continue;
    if (isObject(value)) {
      const sub = patternFrom(g, value);
      if (sub) out[k] = sub;
    } else if (Array.isArray(value)) {
      const all = flat(value);
      const leaves = all.filter((e) => !isObject(e));
      const objects = all.filter(isObject);
      if (leaves.length > 0 && (objects.length === 0 || g(fc.boolean))) {
        out[k] = [conditionFor(g, g(fc.constantFrom, ...leaves))];
      } else if (objects.length > 0) {
        const sub = patternFrom(g, g(fc.constantFrom, ...objects));
        if (sub) out[k] = sub;
      }
    } else {
      out[k] = [conditionFor(g, value)];
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

describe('properties', () => {
  it('an event matches any valid pattern built from its own leaf values', () => {
    fc.assert(
      fc.property(eventObject, fc.gen(), (event, g) => {
        const pattern = patternFrom(g, event);
        fc.pre(pattern !== undefined);
        validatePattern(pattern);
        expect(matches(pattern, event)).toBe(true);
      }),
      RUNS,
    );
  });

  /** An operator and its anything-but form, for a string x (prefix/suffix not empty). */
  const stringOperator = fc.constantFrom(
    (x: string) => [x, { 'anything-but': x }] as const,
    (x: string) => [{ prefix: x }, { 'anything-but': { prefix: x } }] as const,
    (x: string) => [{ suffix: x }, { 'anything-but': { suffix: x } }] as const,
    (x: string) => [{ 'equals-ignore-case': x }, { 'anything-but': { 'equals-ignore-case': x } }] as const,
    (x: string) =>
      [{ wildcard: escapeWildcard(x) }, { 'anything-but': { wildcard: escapeWildcard(x) } }] as const,
    (x: string) =>
      [
        { wildcard: `*${escapeWildcard(x)}*` },
        { 'anything-but': { wildcard: `*${escapeWildcard(x)}*` } },
      ] as const,
  );

  it('anything-but x is the negation of x on a present string field, for every operator', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), fc.gen(), stringOperator, (value, g, operator) => {
        // Often a piece of the value, in another case, so that both outcomes happen.
        const from = g(fc.nat, { max: value.length });
        const x = g(fc.constantFrom, value.slice(from), value.slice(0, from), flipAsciiCase(g, value), 'x');
        fc.pre(x !== '');
        const [positive, negative] = operator(x);
        const event = { detail: { f: value } };
        expect(matches({ detail: { f: [negative] } }, event)).toBe(
          !matches({ detail: { f: [positive] } }, event),
        );
      }),
      RUNS,
    );
  });

  it('anything-but n is the negation of n on a present number field', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -5, max: 5 }), (value, n) => {
        const event = { f: value };
        expect(matches({ f: [{ 'anything-but': n }] }, event)).toBe(!matches({ f: [n] }, event));
        expect(matches({ f: [{ 'anything-but': n }] }, event)).toBe(value !== n);
      }),
      RUNS,
    );
  });

  const small = fc.constantFrom<Json>('x', 'y', 'X', 1, 2, null, true);
  const condition = fc.oneof(
    small,
    fc.constant<Json>({ prefix: 'x' }),
    fc.boolean().map<Json>((present) => ({ exists: present })),
    small.filter((v) => typeof v === 'string').map<Json>((v) => ({ 'anything-but': v })),
    fc.constant<Json>({ numeric: ['>', 1] }),
    fc.constant<Json>({ 'equals-ignore-case': 'x' }),
  );
  const smallKey = fc.constantFrom('a', 'b', 'c-d');
  const flatPattern = fc.dictionary(smallKey, fc.array(condition, { minLength: 1, maxLength: 3 }), {
    minKeys: 1,
    maxKeys: 3,
  });
  const smallEvent = fc.dictionary(smallKey, fc.oneof(small, fc.array(small, { maxLength: 3 })), {
    maxKeys: 3,
  });

  it('$or of patterns matches exactly when one of them does, with or without a sibling field', () => {
    fc.assert(
      fc.property(
        fc.array(flatPattern, { minLength: 2, maxLength: 4 }),
        fc.option(fc.array(condition, { minLength: 1, maxLength: 2 })),
        smallEvent,
        (branches, sibling, event) => {
          const anyBranch = branches.some((b) => matches(b, event));
          expect(matches({ $or: branches }, event)).toBe(anyBranch);
          expect(matches({ detail: { $or: branches } }, { detail: event })).toBe(anyBranch);
          if (sibling !== null) {
            const siblingHolds = matches({ z: sibling }, { ...event, z: 'x' });
            expect(matches({ z: sibling, $or: branches }, { ...event, z: 'x' })).toBe(
              siblingHolds && anyBranch,
            );
          }
        },
      ),
      RUNS,
    );
  });

  it('adding a field the pattern does not mention never changes whether it matches', () => {
    fc.assert(
      fc.property(flatPattern, smallEvent, jsonValue, fc.boolean(), (pattern, event, extra, nested) => {
        const before = nested ? matches({ detail: pattern }, { detail: event }) : matches(pattern, event);
        const grown = { ...event, 'extra-field': extra };
        const after = nested ? matches({ detail: pattern }, { detail: grown }) : matches(pattern, grown);
        expect(after).toBe(before);
        // And a field beside `detail` does not change a nested pattern either.
        expect(matches({ detail: pattern }, { detail: event, other: extra })).toBe(
          matches({ detail: pattern }, { detail: event }),
        );
      }),
      RUNS,
    );
  });

  it('a list of values against an array in the event: matches when they share an element', () => {
    fc.assert(
      fc.property(
        fc.array(small, { minLength: 1, maxLength: 3 }),
        fc.array(small, { maxLength: 4 }),
        (wanted, values) => {
          const shared = wanted.some((w) => values.some((v) => v === w));
          expect(matches({ f: wanted }, { f: values })).toBe(shared);
        },
      ),
      RUNS,
    );
  });

  it('numeric ranges compare numbers as numbers, within ±5e9, and never match strings', () => {
    // Bounds must lie within ±5e9 (a valid pattern); events go beyond it.
    const bound = fc.integer({ min: -5_000_000, max: 4_999_999 }).map((n) => n * 1000 + 0.5);
    fc.assert(
      fc.property(
        bound,
        bound,
        fc.constantFrom('>', '>='),
        fc.constantFrom('<', '<='),
        fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true, min: -6e9, max: 6e9 }),
          fc.double({ noNaN: true, min: 4.9e9, max: 6e9 }).map((x) => (x > 5.5e9 ? -x : x)),
          fc.constantFrom(5e9, -5e9),
          bound,
        ),
        (a, b, lowOp, highOp, x) => {
          fc.pre(a < b);
          const pattern = { n: [{ numeric: [lowOp, a, highOp, b] }] };
          const expected =
            Math.abs(x) <= 5e9 && (lowOp === '>' ? x > a : x >= a) && (highOp === '<' ? x < b : x <= b);
          expect(matches(pattern, { n: x })).toBe(expected);
          expect(matches(pattern, { n: String(x) })).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it('cidr on IPv4 agrees with comparing the top prefix bits', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const dotted = (v: number) => [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
    fc.assert(
      fc.property(
        u32,
        fc.integer({ min: 0, max: 32 }),
        u32,
        fc.nat({ max: 32 }),
        (base, prefix, other, shared) => {
          // Often an address that shares the first `shared` bits with the block.
          const keep = shared === 0 ? 0 : (0xffffffff << (32 - shared)) >>> 0;
          const address = ((base & keep) | (other & ~keep)) >>> 0;
          const expected = prefix === 0 || base >>> (32 - prefix) === address >>> (32 - prefix);
          expect(matches({ ip: [{ cidr: `${dotted(base)}/${prefix}` }] }, { ip: dotted(address) })).toBe(
            expected,
          );
        },
      ),
      RUNS,
    );
  });

  it('a wildcard with every special character escaped is plain string equality', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 8 }),
        fc.string({ maxLength: 8 }),
        fc.boolean(),
        (pattern, other, same) => {
          const value = same ? pattern : other;
          expect(matches({ f: [{ wildcard: escapeWildcard(pattern) }] }, { f: value })).toBe(
            pattern === value,
          );
        },
      ),
      RUNS,
    );
  });

  it('equals-ignore-case on ASCII is equality after lower-casing', () => {
    const ascii = fc.string({ unit: fc.constantFrom('a', 'B', 'c', 'D', '1', '-', ' '), maxLength: 6 });
    fc.assert(
      fc.property(ascii, ascii, (pattern, value) => {
        expect(matches({ f: [{ 'equals-ignore-case': pattern }] }, { f: value })).toBe(
          pattern.toLowerCase() === value.toLowerCase(),
        );
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// validatePattern

const INVALID: { why: string; pattern: unknown; path: string }[] = [
  { why: 'a root that is not an object', pattern: ['aws.ec2'], path: '(root)' },
  { why: 'a root that is a string', pattern: 'source', path: '(root)' },
  { why: 'an empty pattern', pattern: {}, path: '(root)' },
  { why: 'a leaf that is not an array', pattern: { source: 'aws.ec2' }, path: 'source' },
  { why: 'a nested leaf that is a number', pattern: { detail: { severity: 4 } }, path: 'detail.severity' },
  { why: 'a null leaf', pattern: { detail: { x: null } }, path: 'detail.x' },
  { why: 'an empty value list', pattern: { source: [] }, path: 'source' },
  { why: 'an empty nested object', pattern: { detail: {} }, path: 'detail' },
  { why: 'a nested array of values', pattern: { source: [['aws.ec2']] }, path: 'source[0]' },
  { why: 'an operator object with no key', pattern: { source: [{}] }, path: 'source[0]' },
  {
    why: 'an operator object with two keys',
    pattern: { source: [{ prefix: 'a', suffix: 'b' }] },
    path: 'source[0]',
  },
  { why: 'an unknown operator', pattern: { source: [{ contains: 'ec2' }] }, path: 'source[0].contains' },
  {
    why: 'a nested pattern inside a value list',
    pattern: { detail: [{ state: ['x'] }] },
    path: 'detail[0].state',
  },
  { why: 'prefix with a number', pattern: { s: [{ prefix: 5 }] }, path: 's[0].prefix' },
  {
    why: 'prefix with another operator',
    pattern: { s: [{ prefix: { wildcard: 'a*' } }] },
    path: 's[0].prefix',
  },
  {
    why: 'prefix equals-ignore-case with a number',
    pattern: { s: [{ prefix: { 'equals-ignore-case': 1 } }] },
    path: 's[0].prefix.equals-ignore-case',
  },
  { why: 'suffix with a list', pattern: { s: [{ suffix: ['.png'] }] }, path: 's[0].suffix' },
  {
    why: 'equals-ignore-case with a list',
    pattern: { s: [{ 'equals-ignore-case': ['a'] }] },
    path: 's[0].equals-ignore-case',
  },
  { why: 'exists with a string', pattern: { s: [{ exists: 'true' }] }, path: 's[0].exists' },
  { why: 'numeric that is not an array', pattern: { n: [{ numeric: '>' }] }, path: 'n[0].numeric' },
  { why: 'numeric with nothing', pattern: { n: [{ numeric: [] }] }, path: 'n[0].numeric' },
  { why: 'numeric with an operator only', pattern: { n: [{ numeric: ['>'] }] }, path: 'n[0].numeric' },
  { why: 'numeric with three elements', pattern: { n: [{ numeric: ['>', 0, '<'] }] }, path: 'n[0].numeric' },
  {
    why: 'numeric with too many elements',
    pattern: { n: [{ numeric: ['>', 0, '<', 5, '<', 6] }] },
    path: 'n[0].numeric',
  },
  { why: 'an unknown numeric operator', pattern: { n: [{ numeric: ['!=', 5] }] }, path: 'n[0].numeric[0]' },
  {
    why: 'a numeric operand that is a string',
    pattern: { n: [{ numeric: ['>=', '4'] }] },
    path: 'n[0].numeric[1]',
  },
  {
    why: 'bounds in the wrong order',
    pattern: { n: [{ numeric: ['<', 10, '>', 0] }] },
    path: 'n[0].numeric[2]',
  },
  { why: 'two lower bounds', pattern: { n: [{ numeric: ['>', 0, '>=', 5] }] }, path: 'n[0].numeric[2]' },
  { why: '= followed by a bound', pattern: { n: [{ numeric: ['=', 0, '<', 5] }] }, path: 'n[0].numeric[2]' },
  { why: 'crossed bounds', pattern: { n: [{ numeric: ['>', 10, '<', 5] }] }, path: 'n[0].numeric' },
  { why: 'equal open bounds', pattern: { n: [{ numeric: ['>=', 5, '<=', 5] }] }, path: 'n[0].numeric' },
  { why: 'a bound beyond 5e9', pattern: { n: [{ numeric: ['<', 6e9] }] }, path: 'n[0].numeric[1]' },
  { why: 'more than six decimals', pattern: { n: [{ numeric: ['=', 1.0000001] }] }, path: 'n[0].numeric[1]' },
  {
    why: 'anything-but with an empty list',
    pattern: { s: [{ 'anything-but': [] }] },
    path: 's[0].anything-but',
  },
  {
    why: 'anything-but mixing strings and numbers',
    pattern: { s: [{ 'anything-but': ['a', 1] }] },
    path: 's[0].anything-but',
  },
  { why: 'anything-but null', pattern: { s: [{ 'anything-but': null }] }, path: 's[0].anything-but' },
  { why: 'anything-but a boolean', pattern: { s: [{ 'anything-but': [true] }] }, path: 's[0].anything-but' },
  {
    why: 'anything-but with numeric inside',
    pattern: { s: [{ 'anything-but': { numeric: ['>', 1] } }] },
    path: 's[0].anything-but.numeric',
  },
  {
    why: 'anything-but with an empty prefix',
    pattern: { s: [{ 'anything-but': { prefix: '' } }] },
    path: 's[0].anything-but.prefix',
  },
  {
    why: 'anything-but suffix with a number in its list',
    pattern: { s: [{ 'anything-but': { suffix: ['.png', 5] } }] },
    path: 's[0].anything-but.suffix[1]',
  },
  {
    why: 'anything-but with two forms',
    pattern: { s: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] },
    path: 's[0].anything-but',
  },
  {
    why: 'anything-but wildcard with consecutive wildcards',
    pattern: { s: [{ 'anything-but': { wildcard: 'a**' } }] },
    path: 's[0].anything-but.wildcard',
  },
  { why: 'consecutive wildcards', pattern: { s: [{ wildcard: 'a**b' }] }, path: 's[0].wildcard' },
  { why: 'a wildcard escaping a letter', pattern: { s: [{ wildcard: 'a\\b' }] }, path: 's[0].wildcard' },
  { why: 'a wildcard ending in a backslash', pattern: { s: [{ wildcard: 'a\\' }] }, path: 's[0].wildcard' },
  { why: 'a wildcard that is a number', pattern: { s: [{ wildcard: 5 }] }, path: 's[0].wildcard' },
  { why: 'cidr without a prefix length', pattern: { ip: [{ cidr: '10.0.0.0' }] }, path: 'ip[0].cidr' },
  { why: 'cidr with a prefix too long', pattern: { ip: [{ cidr: '10.0.0.0/33' }] }, path: 'ip[0].cidr' },
  { why: 'cidr with a bad address', pattern: { ip: [{ cidr: '300.0.0.0/8' }] }, path: 'ip[0].cidr' },
  {
    why: 'cidr with an IPv6 prefix too long',
    pattern: { ip: [{ cidr: '2001:db8::/129' }] },
    path: 'ip[0].cidr',
  },
  { why: '$or that is an object', pattern: { $or: { a: ['b'] } }, path: '$or' },
  { why: '$or with one branch', pattern: { $or: [{ a: ['b'] }] }, path: '$or' },
  { why: '$or with a string branch', pattern: { $or: [{ a: ['b'] }, 'c'] }, path: '$or[1]' },
  {
    why: '$or with an empty branch',
    pattern: { detail: { $or: [{ a: ['b'] }, {}] } },
    path: 'detail.$or[1]',
  },
  {
    why: 'an operator name as a field inside $or',
    pattern: { $or: [{ prefix: ['a'] }, { b: ['c'] }] },
    path: '$or[0].prefix',
  },
  {
    why: 'a numeric comparator as a field deep inside $or',
    pattern: { $or: [{ a: ['b'] }, { detail: { '>=': [5] } }] },
    path: '$or[1].detail.>=',
  },
  {
    why: 'an invalid pattern inside a $or branch',
    pattern: { $or: [{ a: ['b'] }, { c: 'd' }] },
    path: '$or[1].c',
  },
  {
    why: '$or inside a value list',
    pattern: { a: [{ $or: [{ b: ['c'] }, { d: ['e'] }] }] },
    path: 'a[0].$or',
  },
];

const VALID: unknown[] = [
  EC2_TERMINATION_PATTERN,
  GUARDDUTY_PATTERN,
  TAG_OPT_IN_PATTERN,
  NESTED_OR,
  DETAIL_OR,
  { s: ['', null, true, false, 0, -1.5] },
  { s: [{ prefix: '' }, { suffix: '' }, { 'equals-ignore-case': '' }, { wildcard: '' }, { wildcard: '*' }] },
  { s: [{ 'anything-but': { prefix: ['a', 'b'] } }, { 'anything-but': { wildcard: ['*/lib/*', 'x\\*'] } }] },
  { n: [{ numeric: ['=', -5e9] }, { numeric: ['<=', 5e9] }, { numeric: ['>', 0.000001] }] },
  { n: [{ numeric: ['>=', 1, '<', 1.5] }] },
  { ip: [{ cidr: '0.0.0.0/0' }, { cidr: '10.0.0.5/24' }, { cidr: '::/0' }, { cidr: '2001:db8::1/128' }] },
  { prefix: ['a field may be called prefix outside $or'], numeric: { exists: [{ exists: false }] } },
  { a: [{ exists: false }, 'x'] },
];

describe('validatePattern', () => {
  it.each(INVALID)('rejects $why, naming $path', ({ pattern, path }) => {
    let thrown: unknown;
    try {
      validatePattern(pattern);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(InvalidPatternError);
    const error = thrown as InvalidPatternError;
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
    expect(error.reason.length).toBeGreaterThan(10);
  });

  it.each(VALID.map((pattern) => ({ pattern, text: JSON.stringify(pattern).slice(0, 70) })))(
    'accepts $text',
    ({ pattern }) => {
      expect(() => validatePattern(pattern)).not.toThrow();
    },
  );

  it('matches() refuses an invalid pattern instead of matching nothing', () => {
    expect(() => matches({ source: 'aws.ec2' }, { source: 'aws.ec2' })).toThrow(InvalidPatternError);
    expect(() => matches({ n: [{ numeric: ['>=', '4'] }] }, { n: 5 })).toThrow(/n\[0\]\.numeric\[1\]/);
  });

  it('a pattern repaired after a failed validation is compiled afresh', () => {
    const pattern: Record<string, unknown> = { source: 'aws.ec2' };
    expect(() => validatePattern(pattern)).toThrow(InvalidPatternError);
    pattern.source = ['aws.ec2'];
    expect(matches(pattern, { source: 'aws.ec2' })).toBe(true);
  });
});
